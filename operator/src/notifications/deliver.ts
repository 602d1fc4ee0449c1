// One POST of an event to a webhook, with node's own http client: no redirects
// followed (a redirect could lead to an internal address), a deadline for the
// whole exchange, the answer's body read and dropped, and, unless private
// addresses are allowed, a lookup that refuses every resolved address that is
// not public, at connect time (so DNS cannot point an allowed name inside).
import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { refusedAddress } from './address-policy.ts';

export interface DeliveryResult {
  /** The HTTP status, when there was an answer. */
  responseCode?: number;
  /** Why there was no answer, or what the answer was when it was not 2xx. */
  error?: string;
  /** The URL or its addresses are refused: no use retrying. */
  refused?: boolean;
}

export interface DeliveryOptions {
  timeoutMs: number;
  allowPrivateAddresses: boolean;
}

class RefusedAddress extends Error {}

const publicOnlyLookup: LookupFunction = (hostname, options, callback) => {
  dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
    if (error) return callback(error, '', 0);
    const list = addresses as dns.LookupAddress[];
    const refused = list.map((a) => refusedAddress(a.address)).find((why) => why !== undefined);
    if (refused) return callback(new RefusedAddress(`${hostname} resolves to ${refused}; set WEBHOOK_ALLOW_PRIVATE_ADDRESSES=true on the operator to allow it`), '', 0);
    if (options.all) return callback(null, list);
    return callback(null, list[0]!.address, list[0]!.family);
  });
};

export function postEvent(url: string, body: string, headers: Record<string, string>, options: DeliveryOptions): Promise<DeliveryResult> {
  const target = new URL(url);
  const client = target.protocol === 'https:' ? https : http;
  return new Promise((resolve) => {
    let settled = false;
    const finish = (result: DeliveryResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      resolve(result);
    };
    const request = client.request(target, {
      method: 'POST',
      headers: {
        ...headers,
        'content-type': 'application/cloudevents+json; charset=utf-8',
        'content-length': Buffer.byteLength(body),
        'user-agent': 'claude-operator-webhooks',
      },
      agent: false,
      ...(options.allowPrivateAddresses ? {} : { lookup: publicOnlyLookup }),
    }, (response) => {
      const code = response.statusCode ?? 0;
      let kept = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => { if (kept.length < 200) kept += chunk; });
      response.on('end', () => finish({
        responseCode: code,
        ...(code >= 200 && code < 300 ? {} : { error: `HTTP ${code}${kept.trim() ? `: ${kept.trim().slice(0, 200)}` : ''}` }),
      }));
      response.on('error', () => finish({ responseCode: code }));
    });
    const deadline = setTimeout(() => {
      request.destroy();
      finish({ error: `no answer within ${options.timeoutMs / 1000}s` });
    }, options.timeoutMs);
    request.on('error', (error) => finish({ error: error.message, ...(error instanceof RefusedAddress ? { refused: true } : {}) }));
    request.end(body);
  });
}
