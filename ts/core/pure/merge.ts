// Placeholder: replaced by the merge implementation.
export function pureMerge() {
  return {};
}
