// Placeholder: replaced by the block implementation.
export function pureBlock() {
  return {};
}
