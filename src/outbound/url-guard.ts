import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { AppError } from '../errors.js';

/** What outgoing URLs may point at. Both default to off (the safe setting). */
export interface UrlPolicy {
  /** `http://` allowed (HOOKGATE_ALLOW_INSECURE_URLS=1); otherwise https only. */
  allowInsecureUrls: boolean;
  /** Loopback, private, link-local, CGNAT… addresses allowed (HOOKGATE_ALLOW_PRIVATE_NETWORKS=1). */
  allowPrivateNetworks: boolean;
}

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Resolves a host name to every address it has (like `dns.lookup(host, {all: true})`). Injectable in tests. */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

/** A URL that passed the checks, with the one address the connection must go to. */
export interface CheckedTarget {
  url: URL;
  /** The host name as written (for SNI and the Host header); an IP literal stays a literal. */
  hostname: string;
  /** The checked address: connect here and nowhere else. */
  address: string;
  family: 4 | 6;
}

/**
 * getaddrinfo, as Node's http client would use it (so /etc/hosts counts), with every address returned:
 * a name is refused if any of its addresses is forbidden.
 */
export const systemResolver: Resolver = async (hostname) => {
  const answers = await dnsLookup(hostname, { all: true, verbatim: true });
  return answers.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
};

/**
 * Cloud metadata services. Refused even when private networks are allowed: no webhook has a reason to
 * call them, and they hand out credentials. 168.63.129.16 (Azure) is a public address, hence the list.
 */
const METADATA_ADDRESSES = new Set(['169.254.169.254', '169.254.170.2', '168.63.129.16', '100.100.100.200', 'fd00:ec2::254']);
const METADATA_HOSTNAMES = new Set(['metadata', 'metadata.google.internal', 'metadata.goog', 'instance-data', 'instance-data.ec2.internal']);

/** Ranges no TCP connection should go to, whatever the flags say (ipaddr.js range names). */
const ALWAYS_BLOCKED_RANGES = new Set(['multicast', 'broadcast']);

export type AddressVerdict = { allowed: true } | { allowed: false; reason: string };

/**
 * Whether a connection may go to this address. Only ordinary public unicast is allowed by default;
 * IPv4-mapped and NAT64 (64:ff9b::/96) IPv6 addresses are judged by the IPv4 address inside them, and
 * other IPv4-in-IPv6 forms (IPv4-compatible ::/96, 6to4, Teredo) are refused.
 */
export function checkAddress(address: string, policy: Pick<UrlPolicy, 'allowPrivateNetworks'>): AddressVerdict {
  if (!ipaddr.isValid(address)) return { allowed: false, reason: `"${address}" is not an IP address` };
  let parsed = ipaddr.parse(address);
  if (parsed.kind() === 'ipv6') {
    const v6 = parsed as ipaddr.IPv6;
    if (v6.isIPv4MappedAddress()) parsed = v6.toIPv4Address();
    // IPv4-compatible (::/96, deprecated by RFC 4291): some stacks route it to the IPv4 address inside.
    else if (v6.range() === 'unicast' && v6.parts.slice(0, 6).every((part) => part === 0)) {
      return policy.allowPrivateNetworks ? { allowed: true } : { allowed: false, reason: `${address} is an IPv4-compatible IPv6 address (deprecated)` };
    } else if (v6.range() === 'rfc6052' && v6.toNormalizedString().startsWith('64:ff9b:0:0:0:0:')) {
      // NAT64 well-known prefix: the last 32 bits are the IPv4 destination.
      const bytes = v6.toByteArray();
      parsed = new ipaddr.IPv4(bytes.slice(12));
    }
  }
  const normal = parsed.toString();
  if (METADATA_ADDRESSES.has(normal)) return { allowed: false, reason: `${normal} is a cloud metadata address` };
  const range = parsed.range();
  if (range === 'unicast') return { allowed: true };
  if (ALWAYS_BLOCKED_RANGES.has(range)) return { allowed: false, reason: `${normal} is a ${range} address` };
  if (policy.allowPrivateNetworks) return { allowed: true };
  return { allowed: false, reason: `${normal} is a ${range} address` };
}

/**
 * Parses and checks a URL's form: absolute http(s), no credentials, https unless insecure URLs are
 * allowed. The WHATWG parser has already normalised decimal, octal and hex IPv4 forms
 * (`http://2130706433/` → `127.0.0.1`), so the host checks see the canonical address.
 *
 * @throws AppError `url_invalid`, `url_insecure`; `url_blocked` for a forbidden name (`localhost`, metadata).
 */
export function parseWebhookUrl(raw: string, policy: UrlPolicy): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch (cause) {
    throw new AppError('url_invalid', `"${raw}" is not an absolute URL.`, { cause, details: { url: raw } });
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new AppError('url_invalid', `Outgoing webhook URLs must be http(s), not ${url.protocol}`, { details: { url: raw } });
  }
  if (url.username || url.password) {
    // Reads show the URL, so credentials in it would leak; receivers authenticate us by the signature.
    throw new AppError('url_invalid', 'Outgoing webhook URLs may not contain credentials.', { details: { url: url.host } });
  }
  if (url.protocol === 'http:' && !policy.allowInsecureUrls) {
    throw new AppError('url_insecure', undefined, { details: { url: raw } });
  }
  const name = hostOf(url).toLowerCase().replace(/\.$/, '');
  if (METADATA_HOSTNAMES.has(name)) {
    throw new AppError('url_blocked', `${name} is a cloud metadata host.`, { details: { url: raw, host: name } });
  }
  if (!policy.allowPrivateNetworks && (name === 'localhost' || name.endsWith('.localhost'))) {
    throw new AppError('url_blocked', `${name} is a loopback host.`, { details: { url: raw, host: name } });
  }
  return url;
}

/** The host without IPv6 brackets. */
function hostOf(url: URL): string {
  return url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
}

/**
 * Checks a URL and resolves the address to connect to. Every address the name resolves to must be
 * allowed (one forbidden answer refuses the name); the first is the one to connect to. The caller pins
 * the connection to it (see `pinnedLookup`), so a second resolution cannot swap in another address.
 *
 * @throws AppError `url_invalid`, `url_insecure`, `url_blocked`, `url_unresolvable`.
 */
export async function resolveWebhookTarget(raw: string, policy: UrlPolicy, resolver: Resolver = systemResolver): Promise<CheckedTarget> {
  const url = parseWebhookUrl(raw, policy);
  const hostname = hostOf(url);
  let addresses: ResolvedAddress[];
  const literal = isIP(hostname);
  if (literal) {
    addresses = [{ address: hostname, family: literal === 6 ? 6 : 4 }];
  } else {
    try {
      addresses = await resolver(hostname);
    } catch (cause) {
      throw new AppError('url_unresolvable', `The host ${hostname} does not resolve: ${(cause as Error).message}`, {
        cause,
        details: { host: hostname, code: (cause as NodeJS.ErrnoException).code },
      });
    }
    if (addresses.length === 0) throw new AppError('url_unresolvable', `The host ${hostname} has no address.`, { details: { host: hostname } });
  }
  for (const { address } of addresses) {
    const verdict = checkAddress(address, policy);
    if (!verdict.allowed) {
      throw new AppError('url_blocked', `${hostname} resolves to a forbidden address: ${verdict.reason}.`, {
        details: { host: hostname, address, reason: verdict.reason },
      });
    }
  }
  const first = addresses[0] as ResolvedAddress;
  return { url, hostname, address: first.address, family: first.family };
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | ResolvedAddress[], family?: number) => void;

/**
 * A `lookup` for `http.request` that answers every query with the already-checked address: the socket
 * connects where the check looked, whatever DNS says a moment later (no DNS rebinding).
 */
export function pinnedLookup(target: Pick<CheckedTarget, 'address' | 'family'>) {
  return (_hostname: string, options: { all?: boolean } | number | LookupCallback, callback?: LookupCallback): void => {
    const cb = (typeof options === 'function' ? options : callback) as LookupCallback;
    const all = typeof options === 'object' && options !== null && options.all === true;
    if (all) cb(null, [{ address: target.address, family: target.family }]);
    else cb(null, target.address, target.family);
  };
}
