export const MASK = '***';

/** Base64 forms are only masked when long enough not to hit ordinary text by chance. */
const MIN_ENCODED_LENGTH = 6;

/**
 * The strings that give a secret away: the value itself, its URL-encoded form,
 * and its base64 form at each of the three byte alignments it can have inside
 * longer base64 text (characters that also depend on neighbouring bytes are left out).
 */
export function secretForms(secret: string): string[] {
  if (secret === '') return [];
  const forms = new Set([secret, encodeURIComponent(secret)]);
  const bytes = Buffer.from(secret);
  for (const offset of [0, 1, 2]) {
    const encoded = Buffer.concat([Buffer.alloc(offset), bytes]).toString('base64');
    const start = Math.ceil((offset * 8) / 6);
    const end = Math.floor(((offset + bytes.length) * 8) / 6);
    const form = encoded.slice(start, end);
    if (form.length >= MIN_ENCODED_LENGTH) forms.add(form);
  }
  return [...forms];
}

export type Masker = (text: string) => string;

/** A function that replaces every form of every secret with `***`, longest first. */
export function createMasker(secrets: Iterable<string | undefined>): Masker {
  const forms = [...new Set([...secrets].flatMap((secret) => (secret ? secretForms(secret) : [])))].sort((a, b) => b.length - a.length);
  if (forms.length === 0) return (text) => text;
  const pattern = new RegExp(forms.map(escapeRegExp).join('|'), 'g');
  return (text) => text.replace(pattern, MASK);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
