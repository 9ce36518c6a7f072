// Placeholder: replaced by the skiplist implementation.
export {};
