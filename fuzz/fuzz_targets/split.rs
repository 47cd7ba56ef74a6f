//! Cutting an input into reads of varying sizes, from a seed, so that a target can check
//! that a decoder's output does not depend on how its bytes arrived.

/// Sizes (each at least 1) of the reads `len` bytes arrive in, drawn from `seed`.
pub fn read_sizes(seed: u8, len: usize) -> Vec<usize> {
    // xorshift32; any seed, including 0, gives a usable non-zero state.
    let mut state = u32::from(seed).wrapping_mul(0x9e37_79b9) | 1;
    let mut sizes = Vec::new();
    let mut left = len;
    while left > 0 {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        // Mostly small reads, sometimes a large one.
        let max = if state & 0x8 == 0 { 7 } else { 257 };
        let n = (state as usize >> 4) % max + 1;
        let n = n.min(left);
        sizes.push(n);
        left -= n;
    }
    sizes
}
