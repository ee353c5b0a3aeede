import type { Algorithm } from '../../../spec/upstream.js';
import type { CreatePicker } from './picker.js';
import { createPicker as roundRobin } from './round-robin.js';

/** The configuration word is the file name: `algorithm: "least-queue"` lives in least-queue.ts. */
const pickers: Partial<Record<Algorithm, CreatePicker>> = {
  'round-robin': roundRobin,
};

export function pickerFor(algorithm: Algorithm): CreatePicker {
  const create = pickers[algorithm];
  if (!create) throw new Error(`balancing algorithm "${algorithm}" is not implemented`);
  return create;
}
