// Placeholder: replaced by the crc32c implementation.
export {};
