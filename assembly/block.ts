// Placeholder: replaced by the block implementation.
export {};
