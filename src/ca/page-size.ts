/** How many items a page of any listing (certificates, identities, join tokens) holds: at most, and when a client names none. */
export const MAX_PAGE = 1000;
export const DEFAULT_PAGE = 100;
