// Nested quantifiers ((a+)+, (a*)*, (a|aa)+ …) and back-references make regexes blow up on crafted input.
export function isUnsafeRegex (pattern: string): boolean {
  if (pattern.length > 500) return true
  if (/\\[1-9]/.test(pattern)) return true
  return /\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)[+*{?]/.test(pattern) || /\((?:[^()]*\|[^()]*)\)[+*{]/.test(pattern)
}
