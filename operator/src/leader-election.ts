// Leader election through a coordination.k8s.io Lease, as client-go does it: the
// holder renews the lease; another replica takes it only once it has expired.
// Updates carry the resourceVersion they read, so two replicas never both win.
import type { CoordinationV1Api, V1Lease } from '@kubernetes/client-node';
import type { Logger } from '../../packages/platform/src/logger.ts';
import { statusCode } from '../../packages/platform/src/kube-errors.ts';
import { microTime } from './kube/micro-time.ts';

export interface LeaderElectionOptions {
  coordination: CoordinationV1Api;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationSeconds?: number;
  retryPeriodMs?: number;
  log: Logger;
  now?: () => Date;
}

export class LeaderElector {
  private readonly options: Required<Omit<LeaderElectionOptions, 'now'>> & { now: () => Date };
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(options: LeaderElectionOptions) {
    this.options = { leaseDurationSeconds: 15, retryPeriodMs: 2_000, now: () => new Date(), ...options };
  }

  /** Resolves once this replica leads; then keeps renewing, and calls onLost
   * when a renewal has not succeeded within the lease duration. */
  async acquire(onLost: () => void): Promise<void> {
    const { retryPeriodMs, log, leaseDurationSeconds } = this.options;
    while (!this.stopped && !(await this.tryAcquireOrRenew())) {
      await new Promise((resolve) => { this.timer = setTimeout(resolve, retryPeriodMs); });
    }
    log.info({ lease: `${this.options.namespace}/${this.options.name}`, identity: this.options.identity }, 'became leader');
    let lastRenewed = Date.now();
    const renew = async () => {
      if (this.stopped) return;
      if (await this.tryAcquireOrRenew().catch(() => false)) lastRenewed = Date.now();
      if (Date.now() - lastRenewed > leaseDurationSeconds * 1000) {
        log.error({ identity: this.options.identity }, 'lost the leader lease');
        onLost();
        return;
      }
      this.timer = setTimeout(() => void renew(), retryPeriodMs);
    };
    this.timer = setTimeout(() => void renew(), retryPeriodMs);
  }

  /** Stops renewing and gives the lease up, so a successor need not wait for it to expire. */
  async release(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    const lease = await this.read().catch(() => undefined);
    if (lease?.spec?.holderIdentity !== this.options.identity) return;
    await this.options.coordination.replaceNamespacedLease({
      namespace: this.options.namespace, name: this.options.name,
      body: { ...lease, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1 } } as V1Lease,
    }).catch(() => undefined);
  }

  private async read(): Promise<V1Lease | undefined> {
    try {
      return await this.options.coordination.readNamespacedLease({ namespace: this.options.namespace, name: this.options.name });
    } catch (error) {
      if (statusCode(error) === 404) return undefined;
      throw error;
    }
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { coordination, namespace, name, identity, leaseDurationSeconds } = this.options;
    const now = this.options.now();
    const spec = { holderIdentity: identity, leaseDurationSeconds, renewTime: microTime(now) };
    const lease = await this.read();
    try {
      if (!lease) {
        await coordination.createNamespacedLease({ namespace, body: { metadata: { name, namespace },
          spec: { ...spec, acquireTime: microTime(now), leaseTransitions: 0 } } as unknown as V1Lease });
        return true;
      }
      const holder = lease.spec?.holderIdentity;
      const renewedAt = lease.spec?.renewTime ? new Date(lease.spec.renewTime).getTime() : 0;
      const expired = renewedAt + (lease.spec?.leaseDurationSeconds ?? leaseDurationSeconds) * 1000 < now.getTime();
      if (holder && holder !== identity && !expired) return false;
      const takeover = holder !== identity;
      await coordination.replaceNamespacedLease({ namespace, name, body: {
        ...lease,
        spec: {
          ...lease.spec, ...spec,
          ...(takeover ? { acquireTime: microTime(now), leaseTransitions: (lease.spec?.leaseTransitions ?? 0) + 1 } : {}),
        },
      } as unknown as V1Lease });
      return true;
    } catch (error) {
      // 409: someone else wrote it first; they lead, or we try again.
      if (statusCode(error) === 409) return false;
      throw error;
    }
  }
}
