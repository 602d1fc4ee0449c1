/** metav1.MicroTime as the apiserver parses it: exactly six fractional digits
 * (a JavaScript Date serializes three, which a MicroTime field refuses). */
export function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
