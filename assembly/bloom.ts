// Placeholder: replaced by the bloom implementation.
export {};
