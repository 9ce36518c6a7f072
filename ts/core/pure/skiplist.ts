// Placeholder: replaced by the skiplist implementation.
export function pureSkiplist() {
  return {};
}
