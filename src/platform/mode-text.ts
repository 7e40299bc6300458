/** A file's permission bits as `ls -l`'s octal peers write them: "0700", "1777". */
export const modeText = (mode: number): string => (mode & 0o7777).toString(8).padStart(4, '0');
