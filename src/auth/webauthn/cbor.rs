//! A strict decoder for the CBOR subset WebAuthn uses (RFC 8949; CTAP2 canonical form):
//! integers, byte and text strings, arrays, maps, `true`/`false`/`null`. Definite lengths
//! only; no tags, floats or `undefined`; nesting bounded. Every length is checked against
//! what is left before anything is allocated, so hostile input fails fast and never panics.

/// How deep arrays and maps may nest (an attestation object needs 4).
const MAX_DEPTH: usize = 8;

/// A decoded item, borrowing strings from the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value<'a> {
    /// An integer, unsigned (major type 0) or negative (major type 1).
    Int(i128),
    Bytes(&'a [u8]),
    Text(&'a str),
    Array(Vec<Value<'a>>),
    /// Entries in the order sent.
    Map(Vec<(Value<'a>, Value<'a>)>),
    Bool(bool),
    Null,
}

/// Why bytes are not an accepted CBOR item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The input ends inside an item.
    Truncated,
    /// Indefinite lengths, tags, floats, `undefined`, reserved values.
    Unsupported,
    /// Nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// A text string that is not UTF-8.
    BadText,
    /// Bytes after the item where none may follow.
    TrailingBytes,
    /// A map with the same key twice.
    DuplicateKey,
}

/// Decodes exactly one item that fills `bytes`.
pub fn decode(bytes: &[u8]) -> Result<Value<'_>, Error> {
    let (value, used) = decode_prefix(bytes)?;
    if used != bytes.len() {
        return Err(Error::TrailingBytes);
    }
    Ok(value)
}

/// Decodes one item from the start of `bytes`; returns it and how many bytes it took (the
/// credential public key in authenticator data is followed by other fields).
pub fn decode_prefix(bytes: &[u8]) -> Result<(Value<'_>, usize), Error> {
    let mut reader = Reader { bytes, pos: 0 };
    let value = reader.item(0)?;
    Ok((value, reader.pos))
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let end = self.pos.checked_add(n).ok_or(Error::Truncated)?;
        let slice = self.bytes.get(self.pos..end).ok_or(Error::Truncated)?;
        self.pos = end;
        Ok(slice)
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// Reads the argument that follows an initial byte's additional information.
    fn argument(&mut self, info: u8) -> Result<u64, Error> {
        let width = match info {
            0..=23 => return Ok(u64::from(info)),
            24 => 1,
            25 => 2,
            26 => 4,
            27 => 8,
            _ => return Err(Error::Unsupported),
        };
        let raw = self.take(width)?;
        Ok(raw.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    }

    /// A length that must fit in what is left, each element taking at least `min_each` bytes.
    fn length(&mut self, info: u8, min_each: usize) -> Result<usize, Error> {
        let n = self.argument(info)?;
        let n = usize::try_from(n).map_err(|_| Error::Truncated)?;
        if n.saturating_mul(min_each) > self.remaining() {
            return Err(Error::Truncated);
        }
        Ok(n)
    }

    fn item(&mut self, depth: usize) -> Result<Value<'a>, Error> {
        if depth > MAX_DEPTH {
            return Err(Error::TooDeep);
        }
        let initial = self.take(1)?[0];
        let (major, info) = (initial >> 5, initial & 0x1f);
        Ok(match major {
            0 => Value::Int(i128::from(self.argument(info)?)),
            1 => Value::Int(-1 - i128::from(self.argument(info)?)),
            2 => {
                let n = self.length(info, 1)?;
                Value::Bytes(self.take(n)?)
            }
            3 => {
                let n = self.length(info, 1)?;
                Value::Text(std::str::from_utf8(self.take(n)?).map_err(|_| Error::BadText)?)
            }
            4 => {
                let n = self.length(info, 1)?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.item(depth + 1)?);
                }
                Value::Array(items)
            }
            5 => {
                let n = self.length(info, 2)?;
                let mut entries: Vec<(Value<'a>, Value<'a>)> = Vec::with_capacity(n);
                for _ in 0..n {
                    let key = self.item(depth + 1)?;
                    if entries.iter().any(|(k, _)| *k == key) {
                        return Err(Error::DuplicateKey);
                    }
                    let value = self.item(depth + 1)?;
                    entries.push((key, value));
                }
                Value::Map(entries)
            }
            7 => match info {
                20 => Value::Bool(false),
                21 => Value::Bool(true),
                22 => Value::Null,
                _ => return Err(Error::Unsupported),
            },
            // Tags (6) are never needed here.
            _ => return Err(Error::Unsupported),
        })
    }
}

impl<'a> Value<'a> {
    /// Looks up a map entry by integer key (COSE keys).
    pub fn get_int(&self, key: i128) -> Option<&Value<'a>> {
        self.entries()?
            .iter()
            .find(|(k, _)| *k == Value::Int(key))
            .map(|(_, v)| v)
    }

    /// Looks up a map entry by text key (attestation objects).
    pub fn get_text(&self, key: &str) -> Option<&Value<'a>> {
        self.entries()?
            .iter()
            .find(|(k, _)| *k == Value::Text(key))
            .map(|(_, v)| v)
    }

    fn entries(&self) -> Option<&[(Value<'a>, Value<'a>)]> {
        match self {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i128> {
        match self {
            Value::Int(n) => Some(*n),
            _ => None,
        }
    }

    /// The bytes, if this is a byte string.
    pub fn as_bytes(&self) -> Option<&'a [u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The text, if this is a text string.
    pub fn as_text(&self) -> Option<&'a str> {
        match self {
            Value::Text(t) => Some(t),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn decodes_the_rfc_examples() {
        // RFC 8949 Appendix A.
        assert_eq!(decode(&hex("00")), Ok(Value::Int(0)));
        assert_eq!(decode(&hex("17")), Ok(Value::Int(23)));
        assert_eq!(decode(&hex("1818")), Ok(Value::Int(24)));
        assert_eq!(decode(&hex("1903e8")), Ok(Value::Int(1000)));
        assert_eq!(
            decode(&hex("1bffffffffffffffff")),
            Ok(Value::Int(18_446_744_073_709_551_615))
        );
        assert_eq!(
            decode(&hex("3bffffffffffffffff")),
            Ok(Value::Int(-18_446_744_073_709_551_616))
        );
        assert_eq!(decode(&hex("20")), Ok(Value::Int(-1)));
        assert_eq!(decode(&hex("3863")), Ok(Value::Int(-100)));
        assert_eq!(decode(&hex("4401020304")), Ok(Value::Bytes(&[1, 2, 3, 4])));
        assert_eq!(decode(&hex("6449455446")), Ok(Value::Text("IETF")));
        assert_eq!(decode(&hex("f4")), Ok(Value::Bool(false)));
        assert_eq!(decode(&hex("f5")), Ok(Value::Bool(true)));
        assert_eq!(decode(&hex("f6")), Ok(Value::Null));
        assert_eq!(
            decode(&hex("8301820203820405")),
            Ok(Value::Array(vec![
                Value::Int(1),
                Value::Array(vec![Value::Int(2), Value::Int(3)]),
                Value::Array(vec![Value::Int(4), Value::Int(5)]),
            ]))
        );
        let bytes = hex("a201020304");
        let map = decode(&bytes).unwrap();
        assert_eq!(map.get_int(1), Some(&Value::Int(2)));
        assert_eq!(map.get_int(3), Some(&Value::Int(4)));
        let bytes = hex("a26161016162820203");
        let map = decode(&bytes).unwrap();
        assert_eq!(map.get_text("a"), Some(&Value::Int(1)));
    }

    #[test]
    fn refuses_what_webauthn_never_sends() {
        for (bytes, err) in [
            ("", Error::Truncated),
            ("18", Error::Truncated),
            ("5f42010243030405ff", Error::Unsupported), // indefinite byte string
            ("9fff", Error::Unsupported),               // indefinite array
            ("c11a514b67b0", Error::Unsupported),       // tag 1
            ("f93c00", Error::Unsupported),             // half float
            ("f7", Error::Unsupported),                 // undefined
            ("1c", Error::Unsupported),                 // reserved additional info
            ("62c328", Error::BadText),
            ("0000", Error::TrailingBytes),
            ("a201020103", Error::DuplicateKey),
            ("5a7fffffff00", Error::Truncated), // a length far past the input
            ("9b00000000ffffffff", Error::Truncated),
        ] {
            assert_eq!(decode(&hex(bytes)), Err(err), "{bytes}");
        }
        let deep = [vec![0x81u8; 9], vec![0x00]].concat();
        assert_eq!(decode(&deep), Err(Error::TooDeep));
        let ok = [vec![0x81u8; 8], vec![0x00]].concat();
        assert!(decode(&ok).is_ok());
    }

    #[test]
    fn a_prefix_reports_its_length() {
        let bytes = hex("a1010200ff");
        let (value, used) = decode_prefix(&bytes).unwrap();
        assert_eq!(value.get_int(1), Some(&Value::Int(2)));
        assert_eq!(used, 3);
    }
}
