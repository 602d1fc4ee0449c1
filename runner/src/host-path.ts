// Where an absolute path from the pod spec (a volume mount, /dev/termination-log)
// really is. In Kubernetes it is where it says. The test bed's local node runs
// containers as plain host processes without a mount namespace: it puts each
// mount under a per-pod directory and tells the container where by
// LOCAL_NODE_ROOTFS, so the runner must look there. Only mount paths go through
// this; paths of the image itself (the claude binary) do not.
import path from 'node:path';

export function hostPath(p: string, rootfs: string | undefined = process.env.LOCAL_NODE_ROOTFS): string {
  if (!rootfs || !path.isAbsolute(p)) return p;
  return path.join(rootfs, p);
}
