/**
 * Runs a block of tests once per instruction set the CPU supports, inside one vitest run. The switch goes
 * through a test-only native hook and affects the whole process, so files that use it must not run tests
 * concurrently (vitest runs the tests of one file in sequence by default).
 */
import { afterAll, beforeAll, describe } from 'vitest';

import { binding, type IsaName } from '../../lib/binding';

/** The sets available here, best first. */
export const AVAILABLE_ISAS = binding.info().available;

/** The sets built into the addon on this architecture, best first. */
const BUILT_ISAS: IsaName[] = process.arch === 'x64' ? ['avx512', 'avx2', 'scalar'] : ['scalar'];

/**
 * Declares `body` once per available instruction set, with that set active while its tests run. A set built in
 * but not supported by this CPU is declared skipped, so that the summary counts the tests that did not run.
 */
export function describeEachIsa(name: string, body: (isa: string) => void): void {
  for (const isa of BUILT_ISAS) {
    if (!AVAILABLE_ISAS.includes(isa)) {
      describe.skip(`${name} [${isa}] (not supported by this CPU)`, () => body(isa));
      continue;
    }
    describe(`${name} [${isa}]`, () => {
      const previous = binding.info().isa;
      beforeAll(() => {
        if (!binding.testingSetIsa(isa)) {
          throw new Error(`The ${isa} kernel set is listed as available but could not be activated.`);
        }
      });
      afterAll(() => {
        binding.testingSetIsa(previous);
      });
      body(isa);
    });
  }
}
