import { binding } from '../../lib/binding';

// MXCSR bits 0-5 are sticky exception flags that any floating-point operation may set, JavaScript's included.
// The rest (DAZ, exception masks, rounding mode, FTZ) is the mode a kernel must leave as it found it.
const STATUS_FLAGS = 0x3f;

/** Returns the MXCSR control bits of this thread, or -1 on CPUs without MXCSR. */
export function readMxcsrControl(): number {
  const mxcsr = binding.testingReadMxcsr();
  return mxcsr < 0 ? mxcsr : mxcsr & ~STATUS_FLAGS;
}
