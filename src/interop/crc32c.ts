// CRC-32C (Castagnoli), the checksum TensorFlow puts on table blocks and on every tensor of a
// checkpoint, "masked" as LevelDB does so that checksums of checksums stay well distributed.

const TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32c(bytes: Uint8Array, seed = 0): number {
  let crc = ~seed >>> 0;
  for (let i = 0; i < bytes.length; i++) crc = (TABLE[(crc ^ (bytes[i] as number)) & 0xff] as number) ^ (crc >>> 8);
  return ~crc >>> 0;
}

export function maskedCrc32c(bytes: Uint8Array, seed = 0): number {
  const crc = crc32c(bytes, seed);
  return (((crc >>> 15) | (crc << 17)) + 0xa282ead8) >>> 0;
}
