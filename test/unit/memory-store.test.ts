// The in-memory RegistryStore on the one conformance suite (test/unit/store-conformance.ts), alone and as
// both sides of the LocalSettingsStore a hub on an engine uses (src/engine/local-settings-store.ts), with
// settings the suite writes kept on the local side.
import { LocalSettingsStore } from '../../src/engine/local-settings-store.ts';
import { MemoryStore } from '../../src/store/memory-store.ts';
import { storeConformance } from './store-conformance.ts';

storeConformance('memory', () => {
  const store = new MemoryStore();
  return { store, cleanup: () => store.close() };
}).run();

storeConformance('local settings (hub.id, mark) over memory', () => {
  const store = new LocalSettingsStore(new MemoryStore(), new MemoryStore(), ['hub.id', 'mark']);
  return { store, cleanup: () => store.close() };
}).run();
