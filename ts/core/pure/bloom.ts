// Placeholder: replaced by the bloom implementation.
export function pureBloom() {
  return {};
}
