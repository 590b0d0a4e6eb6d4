// Just enough of a browser for the dashboard's own scripts to run in a bare V8 (py_mini_racer),
// so tests can inspect the element tree the real rendering code builds.
//
// Like a real DOM it keeps text apart from markup: a string appended to an element becomes a
// Text node and is never parsed. Anything that would parse markup or run code from a string
// (innerHTML, insertAdjacentHTML, document.write, a string handler) throws here, so a test
// fails loudly if the dashboard ever starts using it.
"use strict";

class Node {
  constructor() {
    this.childNodes = [];
    this.parentNode = null;
  }
  append(...nodes) {
    for (const node of nodes) {
      const child = node instanceof Node ? node : new Text(String(node));
      if (child.parentNode) child.parentNode.childNodes = child.parentNode.childNodes.filter((c) => c !== child);
      child.parentNode = this;
      this.childNodes.push(child);
    }
  }
  replaceChildren(...nodes) {
    for (const child of this.childNodes) child.parentNode = null;
    this.childNodes = [];
    this.append(...nodes);
  }
  replaceWith(node) {
    const siblings = this.parentNode.childNodes;
    siblings[siblings.indexOf(this)] = node;
    node.parentNode = this.parentNode;
    this.parentNode = null;
  }
  get textContent() {
    return this.childNodes.map((c) => c.textContent).join("");
  }
  set textContent(value) {
    this.replaceChildren(...(value == null || value === "" ? [] : [String(value)]));
  }
}

class Text extends Node {
  constructor(data) {
    super();
    this.data = data;
  }
  get textContent() {
    return this.data;
  }
}

const MARKUP_SINKS = ["innerHTML", "outerHTML"];

class Element extends Node {
  constructor(tagName) {
    super();
    this.tagName = String(tagName).toUpperCase();
    this.attributes = {};
    this.dataset = {};
    this.style = {};
    this.listeners = {};
    this.className = "";
    this.hidden = false;
    this.disabled = false;
    this.value = "";
    this.id = "";
  }
  setAttribute(name, value) {
    this.attributes[String(name).toLowerCase()] = String(value);
  }
  getAttribute(name) {
    const key = String(name).toLowerCase();
    return key in this.attributes ? this.attributes[key] : null;
  }
  hasAttribute(name) {
    return this.getAttribute(name) !== null;
  }
  removeAttribute(name) {
    delete this.attributes[String(name).toLowerCase()];
  }
  addEventListener(type, handler) {
    if (typeof handler !== "function") throw new TypeError(`a ${type} handler given as a string`);
    (this.listeners[type] ||= []).push(handler);
  }
  insertAdjacentHTML(_, html) {
    throw new Error(`markup parsed from a string: insertAdjacentHTML(${JSON.stringify(html)})`);
  }
  get classList() {
    const el = this;
    const names = () => el.className.split(/\s+/).filter(Boolean);
    return {
      add: (...add) => { el.className = [...new Set([...names(), ...add])].join(" "); },
      remove: (...drop) => { el.className = names().filter((n) => !drop.includes(n)).join(" "); },
      contains: (name) => names().includes(name),
    };
  }
  closest() {
    return null;
  }
  querySelector() {
    return null;
  }
  focus() {}
  select() {}
  reset() {}
  showModal() { this.open = true; }
  close() { this.open = false; }
  // A form's controls by name, made on first use.
  get elements() {
    return (this._elements ||= new Proxy({}, { get: (made, name) => (made[name] ||= new Element("input")) }));
  }
  get options() {
    return this.childNodes.filter((c) => c instanceof Element && c.tagName === "OPTION");
  }
  // Reflected URL properties: a renderer that assigned el.href directly is seen like setAttribute.
  get href() { return this.getAttribute("href"); }
  set href(value) { this.setAttribute("href", value); }
  get src() { return this.getAttribute("src"); }
  set src(value) { this.setAttribute("src", value); }
}
for (const sink of MARKUP_SINKS) {
  Object.defineProperty(Element.prototype, sink, {
    set(html) { throw new Error(`markup parsed from a string: ${sink} = ${JSON.stringify(html)}`); },
  });
}

/** The page's elements by id, made on first use (the test does not parse index.html). */
const pageElements = new Map();

const document = {
  createElement: (tag) => new Element(tag),
  createTextNode: (data) => new Text(String(data)),
  getElementById(id) {
    if (!pageElements.has(id)) {
      const el = new Element("div");
      el.id = id;
      pageElements.set(id, el);
    }
    return pageElements.get(id);
  },
  querySelector: () => null,
  write(html) {
    throw new Error(`markup parsed from a string: document.write(${JSON.stringify(html)})`);
  },
};

/** A JSON picture of a node for the Python side: tag, attributes, dataset, style, handlers, children. */
function snapshot(node) {
  if (node == null) return null;
  if (node instanceof Text) return { text: node.data };
  const attributes = { ...node.attributes };
  if (node.className) attributes.class = node.className;
  return {
    tag: node.tagName.toLowerCase(),
    attributes,
    dataset: { ...node.dataset },
    style: { ...node.style },
    listeners: Object.keys(node.listeners),
    hidden: node.hidden,
    children: node.childNodes.map(snapshot),
  };
}
