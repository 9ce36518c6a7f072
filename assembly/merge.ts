// Placeholder: replaced by the merge implementation.
export {};
