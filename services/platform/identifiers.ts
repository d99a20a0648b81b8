/**
 * Identifiers that configuration, the admin API and the file routes all accept: one pattern each,
 * so a value one module takes is never refused by another.
 */

/** A service account's client_id. */
export const CLIENT_ID_PATTERN = /^[a-z0-9][a-z0-9._-]{2,63}$/;
export const CLIENT_ID_RULE = 'must be 3-64 of a-z 0-9 . _ - starting with a letter or digit';

/** A storage element's id; the storage_elements.id column holds at most 50 characters. */
export const STORAGE_ELEMENT_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,49}$/;
export const STORAGE_ELEMENT_ID_RULE = 'must be 1-50 of a-z 0-9 _ - starting with a letter or digit';
