// The page's CSP lets <style> elements in only with this response's nonce (api/dashboard.py). The component
// library passes its nonce to most of the styles it injects, but not all (its scrollbar measurement, for one, makes
// a bare <style>): every <style> our own scripts add gets the nonce here. Markup parsed from a string (which this
// code base never does) does not come through these calls, so a planted <style> stays blocked.
export const nonce = document.querySelector<HTMLMetaElement>('meta[name="csp-nonce"]')?.content ?? "";

function withNonce<T extends Node>(node: T): T {
  if (node instanceof HTMLStyleElement && !node.nonce) node.nonce = nonce;
  return node;
}

const append = Node.prototype.appendChild;
const insert = Node.prototype.insertBefore;
Node.prototype.appendChild = function <T extends Node>(this: Node, node: T): T {
  return append.call(this, withNonce(node)) as T;
};
Node.prototype.insertBefore = function <T extends Node>(this: Node, node: T, child: Node | null): T {
  return insert.call(this, withNonce(node), child) as T;
};
