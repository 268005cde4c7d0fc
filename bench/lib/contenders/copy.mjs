// The copy floor: Float32Array.prototype.set of the input into a preallocated array of the same length. An op that
// reads n elements and writes n can hardly beat it, so it anchors the other figures.

/** Creates the copy-floor contender, which times only the 'copy' pseudo-op. */
export async function createContender() {
  return {
    prepare(op, data) {
      if (op.kind !== 'copy') return { skip: 'the copy floor times only the copy pseudo-op' };
      const target = new Float32Array(data.elements);
      return { run: () => target.set(data.x), outputs: () => ({ primary: target }) };
    },
  };
}
