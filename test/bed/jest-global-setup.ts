// Starts one test bed for the integration and e2e projects (once, however many
// projects run) and hands its settings to the test workers through the
// environment. Tests isolate themselves with namespaces, databases schemas and
// key prefixes of their own, so they never depend on each other's order.
import { startBed, type Bed } from './bed.ts';

interface BedHolder { bed?: Promise<Bed>; users: number }
const holder = ((globalThis as { __claudeOperatorBed?: BedHolder }).__claudeOperatorBed ??= { users: 0 });

export default async function globalSetup(): Promise<void> {
  holder.users++;
  holder.bed ??= startBed();
  const bed = await holder.bed;
  Object.assign(process.env, bed.settings);
}

export async function releaseBed(): Promise<void> {
  holder.users--;
  if (holder.users > 0 || !holder.bed) return;
  const bed = holder.bed;
  holder.bed = undefined;
  await (await bed).stop();
}
