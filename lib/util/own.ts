/**
 * Sets `key` on `target` as an own, enumerable property, whatever the key:
 * plain assignment of `__proto__` sets the prototype instead (or does
 * nothing for a primitive), so a meta key, endpoint or service of that name
 * would be lost without an error.
 */
export function setOwn<T>(target: Record<string, T>, key: string, value: T): void {
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
  else target[key] = value
}
