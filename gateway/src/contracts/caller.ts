import type { Consumer } from '../../../spec/consumer.js';
import type { Stored } from '../store/port.js';

/** Who the auth stage decided the caller is (api-key, JWT); keys and stages share this answer. */
export interface Caller {
  id: string;
  name: string;
  consumer: Stored<Consumer>;
}
