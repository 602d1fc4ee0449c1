// Which webhook destinations the operator refuses: a task's author must not be
// able to make the operator (which runs inside the cluster, with its network
// reach) call cluster-internal services, the node, or the cloud metadata
// endpoint. The URL's host is checked as written, and every address it resolves
// to is checked again at connect time (deliver.ts), so a name that resolves to a
// private address is refused too. WEBHOOK_ALLOW_PRIVATE_ADDRESSES lifts this for
// clusters whose receivers are internal (and for the tests' loopback receiver).
import net from 'node:net';

const refusedRanges = new net.BlockList();
const ranges: Array<[string, number, 'ipv4' | 'ipv6', string]> = [
  ['0.0.0.0', 8, 'ipv4', 'unspecified'],
  ['10.0.0.0', 8, 'ipv4', 'private'],
  ['100.64.0.0', 10, 'ipv4', 'shared (carrier-grade NAT)'],
  ['127.0.0.0', 8, 'ipv4', 'loopback'],
  ['169.254.0.0', 16, 'ipv4', 'link-local'],
  ['172.16.0.0', 12, 'ipv4', 'private'],
  ['192.168.0.0', 16, 'ipv4', 'private'],
  ['::', 128, 'ipv6', 'unspecified'],
  ['::1', 128, 'ipv6', 'loopback'],
  ['fc00::', 7, 'ipv6', 'unique local (private)'],
  ['fe80::', 10, 'ipv6', 'link-local'],
];
const kindOf = new Map<string, net.BlockList>();
for (const [address, prefix, family, kind] of ranges) {
  refusedRanges.addSubnet(address, prefix, family);
  if (!kindOf.has(kind)) kindOf.set(kind, new net.BlockList());
  kindOf.get(kind)!.addSubnet(address, prefix, family);
}

/** Why the operator will not connect to this IP address, or undefined when it may. */
export function refusedAddress(address: string): string | undefined {
  const family = net.isIPv4(address) ? 'ipv4' : net.isIPv6(address) ? 'ipv6' : undefined;
  if (!family) return `${address} is not an IP address`;
  // ::ffff:10.0.0.1 is 10.0.0.1.
  const mapped = family === 'ipv6' ? /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1] : undefined;
  if (mapped) return refusedAddress(mapped);
  if (!refusedRanges.check(address, family)) return undefined;
  for (const [kind, list] of kindOf) if (list.check(address, family)) return `${address} is a ${kind} address`;
  return `${address} is not a public address`;
}

/** Why a webhook URL is refused before any lookup, or undefined when it may be called (its addresses are checked at connect time). */
export function refusedWebhookUrl(url: string, allowPrivate: boolean): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'is not a URL';
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return `must be http:// or https://, not ${parsed.protocol}//`;
  if (allowPrivate) return undefined;
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase().replace(/\.$/, '');
  if (net.isIP(host)) {
    const refused = refusedAddress(host);
    return refused && `${refused}; set WEBHOOK_ALLOW_PRIVATE_ADDRESSES=true on the operator to allow it`;
  }
  // A name without a dot resolves through the pod's search domains: a Service.
  const internal = !host.includes('.') || /\.(localhost|svc|cluster\.local|internal|local)$/.test(host) || host === 'localhost';
  if (internal) return `${host} is a cluster-internal or local name; set WEBHOOK_ALLOW_PRIVATE_ADDRESSES=true on the operator to allow it`;
  return undefined;
}
