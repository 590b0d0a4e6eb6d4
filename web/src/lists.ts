/** Rows the API lists whole, newest first: what a person just added is on the first page however long the list. */
export function newestFirst<T extends { id: number }>(rows: T[] | undefined): T[] {
  return [...(rows ?? [])].sort((a, b) => b.id - a.id);
}
