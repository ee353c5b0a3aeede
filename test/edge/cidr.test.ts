import assert from 'node:assert/strict';
import { isIPv6 } from 'node:net';
import { describe, test } from 'node:test';
import { formatCidr, formatIp, parseCidr, type Cidr } from '../../spec/cidr.js';
import { validateConfig, ValidationError } from '../../spec/validate.js';
import { cidrList, listed } from '../../gateway/src/balancer/cidr.js';
import { clientIpFrom, TrustedProxies } from '../../gateway/src/balancer/client-ip.js';
import { readEnv } from '../../gateway/src/env.js';
import { addressList, admitted } from '../../plugins/ip-restriction/index.js';

/** Issue 9, defect 7: `TRUSTED_PROXIES=10.0.0.0/` trusted every client. */
const MALFORMED = [
  '10.0.0.0/',
  '10.0.0.0/33',
  '10.0.0.0/08',
  '10.0.0.0/-1',
  '10.0.0.0/8/8',
  '10.0.0.0/+8',
  '10.0.0.0/0x8',
  '10.0.0.0/8.0',
  '1.2.3',
  '1.2.3.4.5',
  '01.2.3.4',
  '1.2.3.04',
  '256.0.0.0',
  '1.2.3.4/',
  '0x0a.0.0.0',
  '::ffff:1.2.3.4/129',
  '::ffff:01.2.3.4',
  'fd00::/129',
  'fd00::/',
  'fe80::1%eth0',
  '[::1]',
  '1::2::3',
  ':::',
  '1:2:3:4:5:6:7:8:9',
  '12345::',
  ' 10.0.0.0/8',
  '10.0.0.0/8 ',
  '10.0.0.0 /8',
  '10.0.0.0/ 8',
  '',
  'not-an-ip',
  '10.0.0.1/8',
  'fd00::1/8',
];

describe('one strict CIDR parser', () => {
  for (const text of MALFORMED)
    test(`${JSON.stringify(text)} is refused, with a reason`, () => {
      const parsed = parseCidr(text);
      assert.equal(typeof parsed, 'string', `${JSON.stringify(text)} was accepted as ${typeof parsed === 'object' ? formatCidr(parsed) : ''}`);
    });

  test('the reason says what is wrong and what was meant', () => {
    assert.match(parseCidr('10.0.0.0/') as string, /invalid prefix length/);
    assert.match(parseCidr('01.2.3.4') as string, /not an IP address/);
    assert.match(parseCidr('10.0.0.1/8') as string, /did you mean 10\.0\.0\.0\/8/);
    assert.match(parseCidr(' 10.0.0.0/8') as string, /whitespace/);
  });

  test('well-formed entries parse to their network', () => {
    const cases: Array<[string, string]> = [
      ['10.0.0.0/8', '10.0.0.0/8'],
      ['0.0.0.0/0', '0.0.0.0/0'],
      ['192.168.1.7', '192.168.1.7/32'],
      ['::/0', '::/0'],
      ['2001:DB8::/32', '2001:db8::/32'],
      ['::ffff:1.2.3.4', '::ffff:102:304/128'],
      ['::ffff:10.0.0.0/104', '::ffff:a00:0/104'],
      ['fe80:0:0:0:0:0:0:1', 'fe80::1/128'],
      ['1:0:0:2:0:0:0:3', '1:0:0:2::3/128'],
    ];
    for (const [text, canonical] of cases) {
      const parsed = parseCidr(text);
      assert.equal(typeof parsed, 'object', text);
      assert.equal(formatCidr(parsed as Cidr), canonical, text);
    }
  });
});

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]\\d|\\d)';
const V4 = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`);

/** An oracle written independently of the parser: the grammar as regular expressions. */
function wellFormed(text: string): boolean {
  const [address = '', bits, extra] = text.split('/');
  if (extra !== undefined) return false;
  const v4 = V4.test(address);
  const v6 = !v4 && isIPv6(address) && !address.includes('%') && !/(^|:)0\d+\.|\.0\d/.test(address);
  if (!v4 && !v6) return false;
  if (bits === undefined) return true;
  if (!/^(0|[1-9]\d*)$/.test(bits)) return false;
  return Number(bits) <= (v4 ? 32 : 128);
}

describe('CIDR fuzz', () => {
  test('random strings: nothing malformed is accepted, and what is accepted is well-formed', () => {
    const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 100000);
    const random = prng(seed);
    const alphabet = '0123456789abcdefABCDEF.:/ %[]-x';
    const pick = (s: string) => s[Math.floor(random() * s.length)]!;
    const seeds = ['10.0.0.0/8', '192.168.1.7', 'fd00::/8', '::ffff:1.2.3.4/128', '2001:db8::1', '0.0.0.0/0'];
    let accepted = 0;
    for (let i = 0; i < 20000; i++) {
      let text: string;
      if (random() < 0.5) {
        text = '';
        const n = Math.floor(random() * 24);
        for (let j = 0; j < n; j++) text += pick(alphabet);
      } else {
        // A mutation of a valid entry: the malformed neighbours a typo produces.
        const chars = [...seeds[Math.floor(random() * seeds.length)]!];
        const at = Math.floor(random() * (chars.length + 1));
        const op = random();
        if (op < 0.33) chars.splice(at, 1);
        else if (op < 0.66) chars.splice(at, 0, pick(alphabet));
        else chars[at] = pick(alphabet);
        text = chars.join('');
      }
      const parsed = parseCidr(text);
      if (typeof parsed === 'string') {
        // Refused: either not well-formed, or host bits past the prefix (checked below).
        if (wellFormed(text)) assert.match(parsed, /bits set past/, `seed ${seed}: ${JSON.stringify(text)} refused: ${parsed}`);
        continue;
      }
      accepted++;
      assert.ok(wellFormed(text), `seed ${seed}: malformed ${JSON.stringify(text)} was accepted as ${formatCidr(parsed)}`);
      const again = parseCidr(formatCidr(parsed));
      assert.deepEqual(again, parsed, `seed ${seed}: ${JSON.stringify(text)} does not round-trip`);
    }
    assert.ok(accepted > 100, `only ${accepted} valid strings generated: the fuzz is not exercising acceptance`);
  });

  test('random networks round-trip through text, and BlockList agrees with bit arithmetic on membership', () => {
    const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 100000);
    const random = prng(seed + 1);
    for (let i = 0; i < 2000; i++) {
      const family = random() < 0.5 ? 4 : 6;
      const size = family === 4 ? 4 : 16;
      const max = size * 8;
      const prefix = Math.floor(random() * (max + 1));
      const raw = Array.from({ length: size }, () => (random() < 0.3 ? 0 : Math.floor(random() * 256)));
      const mask = (bytes: number[]) => bytes.map((b, k) => b & ((0xff << (8 - Math.max(0, Math.min(8, prefix - k * 8)))) & 0xff));
      const network = mask(raw);
      const text = formatCidr({ family, bytes: network, prefix });
      const parsed = parseCidr(text);
      assert.equal(typeof parsed, 'object', `seed ${seed}: ${text} refused: ${parsed as string}`);
      assert.deepEqual((parsed as Cidr).bytes, network, text);
      assert.equal((parsed as Cidr).prefix, prefix, text);
      assert.equal(formatCidr(parsed as Cidr), text);
      const list = cidrList([text], 'fuzz');
      const probe = Array.from({ length: size }, () => Math.floor(random() * 256));
      const inside = mask(probe).every((b, k) => b === network[k]);
      assert.equal(listed(list, formatIp(family, probe)), inside, `seed ${seed}: ${formatIp(family, probe)} in ${text}`);
      assert.equal(listed(list, formatIp(family, [...network])), true, `${text} contains its own network address`);
    }
  });
});

describe('every CIDR list uses it', () => {
  test('TrustedProxies refuses 10.0.0.0/ instead of trusting everyone', () => {
    assert.throws(() => new TrustedProxies(['10.0.0.0/']), /10\.0\.0\.0\/.*invalid prefix length/);
    for (const text of MALFORMED) assert.throws(() => new TrustedProxies([text]), Error, JSON.stringify(text));
  });

  test('a trusted /8 still believes x-forwarded-for from inside it, and only there', () => {
    const trusted = new TrustedProxies(['10.0.0.0/8', '::ffff:192.168.0.0/112']);
    assert.equal(clientIpFrom('10.1.2.3', '203.0.113.5', trusted), '203.0.113.5');
    assert.equal(clientIpFrom('::ffff:10.1.2.3', '203.0.113.5', trusted), '203.0.113.5');
    assert.equal(clientIpFrom('192.168.4.4', '203.0.113.5', trusted), '203.0.113.5');
    assert.equal(clientIpFrom('11.1.2.3', '203.0.113.5', trusted), '11.1.2.3');
  });

  test('ip-restriction lists refuse the same entries', () => {
    for (const text of MALFORMED) assert.throws(() => addressList([text], 'allow'), Error, JSON.stringify(text));
    const rules = { allow: addressList(['10.0.0.0/8'], 'allow'), deny: undefined };
    assert.equal(admitted(rules, '10.9.9.9'), true);
    assert.equal(admitted(rules, '::ffff:10.9.9.9'), true);
    assert.equal(admitted(rules, '11.9.9.9'), false);
    assert.equal(admitted(rules, 'not-an-address'), false);
  });

  test('TRUSTED_PROXIES is refused at start-up with the entry named', () => {
    assert.throws(() => readEnv({ TRUSTED_PROXIES: '192.168.0.0/16,10.0.0.0/' }), /TRUSTED_PROXIES.*entry 2.*"10\.0\.0\.0\/".*invalid prefix length/);
    assert.throws(() => readEnv({ TRUSTED_PROXIES: '10.0.0.0/8,,10.1.0.0/16' }), /TRUSTED_PROXIES.*entry 2.*empty/);
    assert.throws(() => readEnv({ TRUSTED_PROXIES: '01.2.3.4' }), /TRUSTED_PROXIES.*"01\.2\.3\.4"/);
    assert.deepEqual(readEnv({ TRUSTED_PROXIES: '10.0.0.0/8, 192.168.1.7' }).trustedProxies, ['10.0.0.0/8', '192.168.1.7']);
    assert.deepEqual(readEnv({ TRUSTED_PROXIES: '' }).trustedProxies, []);
  });

  test('a configuration with a malformed CIDR is refused at save, each entry named by its path', () => {
    const config = {
      upstreams: [{ name: 'u', targets: [{ url: 'http://127.0.0.1:9' }], trustedProxies: ['10.0.0.0/8', '10.0.0.0/'] }],
      routes: [{ name: 'r', paths: ['/x'], upstream: 'u', ipRestriction: { allow: ['1.2.3'], deny: ['::ffff:1.2.3.4/129'] } }],
      consumers: [],
    };
    let error: ValidationError | undefined;
    try {
      validateConfig(config);
    } catch (err) {
      error = err as ValidationError;
    }
    assert.ok(error instanceof ValidationError, 'refused');
    const paths = error.errors.map((e) => e.path);
    assert.deepEqual(paths.sort(), ['/routes/0/ipRestriction/allow/0', '/routes/0/ipRestriction/deny/0', '/upstreams/0/trustedProxies/1']);
    assert.match(error.errors.find((e) => e.path === '/upstreams/0/trustedProxies/1')!.message, /"10\.0\.0\.0\/" has an invalid prefix length/);
  });
});
