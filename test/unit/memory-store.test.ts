// The in-memory RegistryStore on the one conformance suite (test/unit/store-conformance.ts).
import { MemoryStore } from '../../src/store/memory-store.ts';
import { storeConformance } from './store-conformance.ts';

storeConformance('memory', () => {
  const store = new MemoryStore();
  return { store, cleanup: () => store.close() };
}).run();
