/**
 * Why a file could not be read or used, in words an operator acts on, with
 * the code to search for: "no such file (ENOENT)". The codes alone ("ENOENT")
 * are what a newcomer has to look up first.
 */
const WORDS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'it is a directory',
  ENOTDIR: 'part of its path is a file, not a directory',
  ELOOP: 'too many symbolic links',
  ENAMETOOLONG: 'the path is too long',
  EMFILE: 'this process has too many files open',
};

export function fileErrorText(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === undefined) return (err as Error).message;
  const words = WORDS[code];
  return words ? `${words} (${code})` : code;
}
