//! Compression detected by magic bytes, decompressed as a stream.

use std::io::{self, BufRead, BufReader, Read};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
    Zstd,
    Xz,
    Lzma,
    Bzip2,
}

impl Compression {
    /// Identifies the format from the first bytes of a stream.
    pub fn sniff(head: &[u8]) -> Self {
        match head {
            [0x1f, 0x8b, ..] => Self::Gzip,
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Self::Zstd,
            [0xfd, b'7', b'z', b'X', b'Z', 0x00, ..] => Self::Xz,
            [b'B', b'Z', b'h', ..] => Self::Bzip2,
            // lzma-alone: properties byte 0x5d, then a little-endian dict size.
            [0x5d, 0x00, 0x00, ..] => Self::Lzma,
            _ => Self::None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::None => "uncompressed",
            Self::Gzip => "gzip",
            Self::Zstd => "zstd",
            Self::Xz => "xz",
            Self::Lzma => "lzma",
            Self::Bzip2 => "bzip2",
        }
    }
}

/// Wraps `input` in the decoder its first bytes call for. Everything
/// streams: memory stays constant whatever the archive size.
pub fn open<'a, R: Read + Send + 'a>(
    input: R,
) -> io::Result<(Compression, Box<dyn Read + Send + 'a>)> {
    let mut buf = BufReader::with_capacity(256 * 1024, input);
    let kind = Compression::sniff(buf.fill_buf()?);
    Ok((kind, decoder(kind, buf)?))
}

/// The decoder for a known compression.
pub fn decoder<'a, R: BufRead + Send + 'a>(
    kind: Compression,
    input: R,
) -> io::Result<Box<dyn Read + Send + 'a>> {
    Ok(match kind {
        Compression::None => Box::new(input),
        // Multi-member gzip (pigz, concatenated streams) is valid gzip.
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(input)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(input)?),
        Compression::Xz => Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(input)),
        Compression::Lzma => Box::new(liblzma::bufread::XzDecoder::new_stream(
            input,
            liblzma::stream::Stream::new_lzma_decoder(u64::MAX).map_err(io::Error::other)?,
        )),
        Compression::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(input)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const PAYLOAD: &[u8] = b"a tar stream would be here; this is enough to round-trip\n";

    fn roundtrip(kind: Compression, data: Vec<u8>) {
        let (got, mut r) = open(&data[..]).unwrap();
        assert_eq!(got, kind);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, PAYLOAD);
    }

    #[test]
    fn every_format_round_trips() {
        roundtrip(Compression::None, PAYLOAD.to_vec());

        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(PAYLOAD).unwrap();
        roundtrip(Compression::Gzip, gz.finish().unwrap());

        roundtrip(Compression::Zstd, zstd::encode_all(PAYLOAD, 3).unwrap());

        let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 1);
        xz.write_all(PAYLOAD).unwrap();
        roundtrip(Compression::Xz, xz.finish().unwrap());

        let opts = liblzma::stream::LzmaOptions::new_preset(1).unwrap();
        let stream = liblzma::stream::Stream::new_lzma_encoder(&opts).unwrap();
        let mut lz = liblzma::write::XzEncoder::new_stream(Vec::new(), stream);
        lz.write_all(PAYLOAD).unwrap();
        roundtrip(Compression::Lzma, lz.finish().unwrap());

        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        bz.write_all(PAYLOAD).unwrap();
        roundtrip(Compression::Bzip2, bz.finish().unwrap());
    }

    #[test]
    fn concatenated_gzip_members_are_one_stream() {
        let half = PAYLOAD.len() / 2;
        let mut data = Vec::new();
        for part in [&PAYLOAD[..half], &PAYLOAD[half..]] {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(part).unwrap();
            data.extend(gz.finish().unwrap());
        }
        roundtrip(Compression::Gzip, data);
    }

    #[test]
    fn truncated_gzip_is_an_error() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&[7u8; 100_000]).unwrap();
        let mut data = gz.finish().unwrap();
        data.truncate(data.len() / 2);
        let (_, mut r) = open(&data[..]).unwrap();
        let mut out = Vec::new();
        assert!(r.read_to_end(&mut out).is_err());
    }
}
