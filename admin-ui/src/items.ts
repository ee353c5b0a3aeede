import { useQuery } from '@tanstack/react-query';
import { api, get } from './api';
import type { Kind } from './schemas';

export type Item = Record<string, unknown> & { id: string; version: number; name?: string };

export function useList<T = Item>(kind: Kind | string, path = `/${kind}`) {
  return useQuery({ queryKey: [kind, 'list', path], queryFn: () => get<T[]>(path) });
}

/** One item with its ETag, which the editor sends back as If-Match. */
export function useItem(kind: Kind, ref: string | undefined) {
  return useQuery({
    queryKey: [kind, 'item', ref],
    queryFn: async () => {
      const answer = await api<Item>('GET', `/${kind}/${encodeURIComponent(ref!)}`);
      return { item: answer.data, etag: answer.etag };
    },
    enabled: ref !== undefined && ref !== 'new',
    // The editor holds its own copy; a background refetch must not move the ETag under it.
    staleTime: Infinity,
    refetchOnWindowFocus: false,
  });
}
