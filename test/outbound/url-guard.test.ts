import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import { checkAddress, parseWebhookUrl, resolveWebhookTarget, type Resolver } from '../../src/outbound/index.js';

const strict = { allowInsecureUrls: false, allowPrivateNetworks: false };
const open = { allowInsecureUrls: true, allowPrivateNetworks: true };

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    return (err as AppError).code;
  }
}

/** A resolver from a fixed table; never touches DNS. */
const table = (entries: Record<string, string[]>): Resolver => async (host) => {
  const list = entries[host];
  if (!list) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
  return list.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
};

describe('outgoing URL rules', () => {
  it('allows public unicast addresses, v4 and v6', () => {
    for (const address of ['93.184.216.34', '8.8.8.8', '2606:4700:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808']) {
      expect(checkAddress(address, strict), address).toEqual({ allowed: true });
    }
  });

  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.1.1', 'linkLocal'],
    ['100.64.0.1', 'carrierGradeNat'],
    ['100.127.255.254', 'carrierGradeNat'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['0.0.0.0', 'unspecified'],
    ['240.0.0.1', 'reserved'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'linkLocal'],
    ['fc00::1', 'uniqueLocal'],
    ['fd12:3456::1', 'uniqueLocal'],
    ['ff02::1', 'multicast'],
    ['::ffff:127.0.0.1', 'loopback'], // IPv4-mapped IPv6 is judged by its IPv4 address
    ['::ffff:10.0.0.1', 'private'],
    ['64:ff9b::a00:1', 'private'], // NAT64 of 10.0.0.1
    ['2002:7f00:1::1', '6to4'], // 6to4 tunnels are refused outright
    ['2001:0:4136:e378::1', 'teredo'],
    ['::7f00:1', 'IPv4-compatible'], // ::127.0.0.1, which some stacks route to 127.0.0.1
    ['::a9fe:a9fe', 'IPv4-compatible'],
  ])('refuses %s (%s) unless private networks are allowed', (address, range) => {
    const verdict = checkAddress(address, strict);
    expect(verdict.allowed).toBe(false);
    expect(verdict.allowed ? '' : verdict.reason).toContain(range);
    const always = range === 'multicast' || range === 'broadcast';
    expect(checkAddress(address, { allowPrivateNetworks: true }).allowed).toBe(!always);
  });

  it('refuses cloud metadata addresses even when private networks are allowed', () => {
    for (const address of ['169.254.169.254', '::ffff:169.254.169.254', 'fd00:ec2::254', '100.100.100.200', '168.63.129.16']) {
      expect(checkAddress(address, { allowPrivateNetworks: true }), address).toMatchObject({ allowed: false });
    }
  });

  it('requires https unless insecure URLs are allowed; refuses other schemes, credentials and junk', async () => {
    expect(parseWebhookUrl('https://example.com/hook', strict).href).toBe('https://example.com/hook');
    expect(await codeOf(resolveWebhookTarget('http://example.com/hook', strict, table({ 'example.com': ['93.184.216.34'] })))).toBe('url_insecure');
    expect(await codeOf(resolveWebhookTarget('http://example.com/hook', { ...strict, allowInsecureUrls: true }, table({ 'example.com': ['93.184.216.34'] })))).toBeUndefined();
    expect(await codeOf(resolveWebhookTarget('ftp://example.com/', open))).toBe('url_invalid');
    expect(await codeOf(resolveWebhookTarget('file:///etc/passwd', open))).toBe('url_invalid');
    expect(await codeOf(resolveWebhookTarget('/relative', open))).toBe('url_invalid');
    expect(await codeOf(resolveWebhookTarget('https://user:pw@example.com/', open))).toBe('url_invalid');
  });

  it.each([
    ['https://127.0.0.1/'],
    ['https://localhost/'],
    ['https://LOCALHOST./'],
    ['https://api.localhost/'],
    ['https://[::1]/'],
    ['https://[::ffff:127.0.0.1]/'], // the parser writes it [::ffff:7f00:1]
    ['https://2130706433/'], // decimal 127.0.0.1, normalised by the WHATWG parser
    ['https://0x7f000001/'], // hex
    ['https://0177.0.0.1/'], // octal
    ['https://127.1/'], // short form
    ['https://0/'], // 0.0.0.0
    ['https://169.254.169.254/latest/meta-data'],
    ['https://metadata.google.internal/computeMetadata/v1/'],
    ['https://[fe80::1]/'],
  ])('refuses %s with url_blocked (flags off)', async (url) => {
    expect(await codeOf(resolveWebhookTarget(url, strict, table({})))).toBe('url_blocked');
  });

  it('checks every address a name resolves to, and refuses names that do not resolve', async () => {
    const dns = table({ 'ok.test': ['93.184.216.34', '2606:4700::1'], 'mixed.test': ['93.184.216.34', '10.0.0.5'], 'inside.test': ['192.168.0.10'] });
    const target = await resolveWebhookTarget('https://ok.test:8443/hook?x=1', strict, dns);
    expect(target).toMatchObject({ hostname: 'ok.test', address: '93.184.216.34', family: 4 });
    expect(target.url.port).toBe('8443');
    expect(await codeOf(resolveWebhookTarget('https://mixed.test/', strict, dns))).toBe('url_blocked');
    expect(await codeOf(resolveWebhookTarget('https://inside.test/', strict, dns))).toBe('url_blocked');
    expect(await codeOf(resolveWebhookTarget('https://inside.test/', open, dns))).toBeUndefined();
    expect(await codeOf(resolveWebhookTarget('https://nowhere.test/', strict, dns))).toBe('url_unresolvable');
  });

  it('with both flags on, loopback receivers are fine (what the tests use)', async () => {
    expect(await resolveWebhookTarget('http://127.0.0.1:9/x', open)).toMatchObject({ address: '127.0.0.1' });
    expect(await resolveWebhookTarget('http://localhost:9/x', open, table({ localhost: ['127.0.0.1'] }))).toMatchObject({ address: '127.0.0.1' });
  });
});
