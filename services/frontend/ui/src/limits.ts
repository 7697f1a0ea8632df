// The contract's limits the UI needs, copied rather than imported: importing @tasktier/contract
// at runtime would pull TypeBox into the browser bundle. A server test checks they stay equal.
export const LIST_ID_PATTERN = '^[A-Za-z0-9_-]{22}$';
export const TITLE_MAX_LENGTH = 1000;
