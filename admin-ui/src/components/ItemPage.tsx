import type { ReactNode } from 'react';
import { useNavigate, useParams } from 'react-router';
import { useItem, type Item } from '../items';
import { SINGULAR, type Kind } from '../schemas';
import { ErrorNote, Loading } from './Bits';
import { ItemEditor } from './ItemEditor';

export interface LoadedItem {
  item: Item;
  etag: string | null;
  refetch(): void;
}

/**
 * The page of one item at `/{kind}/:ref`: `/{kind}/new` is the editor creating one (then its
 * page), any other ref is loaded and handed to `render`, with loading and errors shown here.
 */
export function ItemPage({ kind, render }: { kind: Kind; render(loaded: LoadedItem): ReactNode }) {
  const { ref } = useParams();
  const navigate = useNavigate();
  const item = useItem(kind, ref);
  const one = SINGULAR[kind];
  if (ref === 'new')
    return (
      <>
        <h1>New {one}</h1>
        <ItemEditor kind={kind} onSaved={(saved) => navigate(`/${kind}/${encodeURIComponent(String(saved.name))}`)} onCancel={() => navigate(`/${kind}`)} />
      </>
    );
  if (item.isPending) return <Loading what={`the ${one}`} />;
  if (item.isError) return <ErrorNote error={item.error} />;
  return <>{render({ item: item.data.item, etag: item.data.etag, refetch: () => void item.refetch() })}</>;
}
