import type { Algorithm } from '../../../spec/upstream.js';
import type { CreatePicker } from './picker.js';
import { createPicker as consistentHash } from './consistent-hash.js';
import { createPicker as ipHash } from './ip-hash.js';
import { createPicker as leastConnections } from './least-connections.js';
import { createPicker as leastQueue } from './least-queue.js';
import { createPicker as leastResponseTime } from './least-response-time.js';
import { createPicker as powerOfTwo } from './power-of-two.js';
import { createPicker as prefixAffinity } from './prefix-affinity.js';
import { createPicker as random } from './random.js';
import { createPicker as roundRobin } from './round-robin.js';
import { createPicker as weightedRoundRobin } from './weighted-round-robin.js';

/** The configuration word is the file name: `algorithm: "least-queue"` lives in least-queue.ts. */
const pickers: Record<Algorithm, CreatePicker> = {
  'round-robin': roundRobin,
  'weighted-round-robin': weightedRoundRobin,
  'least-connections': leastConnections,
  'least-response-time': leastResponseTime,
  'power-of-two': powerOfTwo,
  random,
  'ip-hash': ipHash,
  'consistent-hash': consistentHash,
  'least-queue': leastQueue,
  'prefix-affinity': prefixAffinity,
};

export function pickerFor(algorithm: Algorithm): CreatePicker {
  const create = pickers[algorithm];
  if (!create) throw new Error(`balancing algorithm "${algorithm}" is not implemented`);
  return create;
}
