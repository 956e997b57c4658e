//! Bit-level reading for codec headers: MSB-first bits, exp-Golomb codes,
//! and removal of emulation prevention bytes from NAL unit payloads.

/// Ran out of bits or met an impossible exp-Golomb code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BitError {
    #[error("unexpected end of data")]
    Eof,
    #[error("exp-Golomb code longer than 32 bits")]
    Golomb,
}

/// Reads bits MSB first from a byte slice.
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    /// Position in bits.
    pos: usize,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    pub(crate) fn read_bit(&mut self) -> Result<bool, BitError> {
        let byte = self.data.get(self.pos / 8).ok_or(BitError::Eof)?;
        let bit = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Ok(bit == 1)
    }

    /// Reads `n` bits (at most 32) as an unsigned number.
    pub(crate) fn read_bits(&mut self, n: u32) -> Result<u32, BitError> {
        debug_assert!(n <= 32);
        let mut value: u64 = 0;
        for _ in 0..n {
            value = (value << 1) | u64::from(self.read_bit()?);
        }
        // n <= 32, so the value fits.
        Ok(value as u32)
    }

    pub(crate) fn read_flag(&mut self) -> Result<bool, BitError> {
        self.read_bit()
    }

    pub(crate) fn skip_bits(&mut self, n: usize) -> Result<(), BitError> {
        let end = self.pos.checked_add(n).ok_or(BitError::Eof)?;
        if end > self.data.len() * 8 {
            return Err(BitError::Eof);
        }
        self.pos = end;
        Ok(())
    }

    /// Unsigned exp-Golomb code, `ue(v)`.
    pub(crate) fn read_ue(&mut self) -> Result<u32, BitError> {
        let mut leading_zeros = 0u32;
        while !self.read_bit()? {
            leading_zeros += 1;
            if leading_zeros > 31 {
                return Err(BitError::Golomb);
            }
        }
        let suffix = u64::from(self.read_bits(leading_zeros)?);
        let value = (1u64 << leading_zeros) - 1 + suffix;
        u32::try_from(value).map_err(|_| BitError::Golomb)
    }

    /// Signed exp-Golomb code, `se(v)`.
    pub(crate) fn read_se(&mut self) -> Result<i32, BitError> {
        let k = i64::from(self.read_ue()?);
        let value = if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) };
        i32::try_from(value).map_err(|_| BitError::Golomb)
    }
}

/// Removes emulation prevention bytes (`00 00 03` → `00 00`) from a NAL unit
/// payload, giving the raw byte sequence payload.
pub(crate) fn unescape_rbsp(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut zeros = 0;
    for &byte in data {
        if zeros >= 2 && byte == 3 {
            zeros = 0;
            continue;
        }
        zeros = if byte == 0 { zeros + 1 } else { 0 };
        out.push(byte);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_bits_and_golomb() {
        // 1 | 010 | 011 | 00100 | 00101 -> ue: 0, 1, 2, 3, 4
        let data = [0b1010_0110, 0b0100_0010, 0b1000_0000];
        let mut r = BitReader::new(&data);
        assert_eq!(r.read_ue(), Ok(0));
        assert_eq!(r.read_ue(), Ok(1));
        assert_eq!(r.read_ue(), Ok(2));
        assert_eq!(r.read_ue(), Ok(3));
        assert_eq!(r.read_ue(), Ok(4));
    }

    #[test]
    fn signed_golomb() {
        // ue 1 -> se +1, ue 2 -> se -1
        let data = [0b0100_1100];
        let mut r = BitReader::new(&data);
        assert_eq!(r.read_se(), Ok(1));
        assert_eq!(r.read_se(), Ok(-1));
    }

    #[test]
    fn eof_and_overlong_codes_are_errors() {
        assert_eq!(BitReader::new(&[]).read_bit(), Err(BitError::Eof));
        assert_eq!(BitReader::new(&[0; 8]).read_ue(), Err(BitError::Golomb));
        assert_eq!(BitReader::new(&[0, 0]).read_ue(), Err(BitError::Eof));
        assert_eq!(BitReader::new(&[1]).skip_bits(9), Err(BitError::Eof));
        // 32 leading zeros would not fit in u32.
        let max = [0, 0, 0, 0, 0x80, 0, 0, 0, 0];
        assert_eq!(BitReader::new(&max).read_ue(), Err(BitError::Golomb));
    }

    #[test]
    fn unescapes_emulation_prevention() {
        assert_eq!(
            unescape_rbsp(&[0, 0, 3, 1, 0, 0, 3, 0, 0, 3]),
            vec![0, 0, 1, 0, 0, 0, 0]
        );
        assert_eq!(unescape_rbsp(&[1, 3, 0, 3]), vec![1, 3, 0, 3]);
    }
}
