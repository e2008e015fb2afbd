// A minimal XML reader for tests, written apart from the code under test: it throws on what a JUnit consumer would reject.

const ENTITIES = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
const NAME = /[A-Za-z_][\w.:-]*/y;
const ATTRIBUTE = /\s+([A-Za-z_][\w.:-]*)\s*=\s*(?:"([^"<]*)"|'([^'<]*)')/y;

function decode(text) {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: a report with control characters is not XML 1.0.
  if (/[\x00-\x08\x0B\x0C\x0E-\x1F]/.test(text)) throw new Error(`control character in ${JSON.stringify(text)}`);
  return text.replace(/&([^;]*);|&/g, (match, name) => {
    if (name === undefined || !(name in ENTITIES)) throw new Error(`bad entity ${match}`);
    return ENTITIES[name];
  });
}

function openTag(text, at) {
  NAME.lastIndex = at + 1;
  const name = NAME.exec(text)?.[0];
  if (!name) throw new Error(`bad tag at ${at}`);
  const attributes = {};
  let position = NAME.lastIndex;
  for (;;) {
    ATTRIBUTE.lastIndex = position;
    const match = ATTRIBUTE.exec(text);
    if (!match) break;
    if (match[1] in attributes) throw new Error(`attribute ${match[1]} twice`);
    attributes[match[1]] = decode(match[2] ?? match[3]);
    position = ATTRIBUTE.lastIndex;
  }
  const close = /\s*(\/?)>/y;
  close.lastIndex = position;
  const end = close.exec(text);
  if (!end) throw new Error(`unterminated tag <${name} at ${at}`);
  return { element: { name, attributes, children: [], text: '' }, selfClosing: end[1] === '/', next: close.lastIndex };
}

/** The document's root element: { name, attributes, children, text }. */
export function parseXml(text) {
  const top = { children: [], text: '' };
  const stack = [top];
  let at = text.startsWith('<?xml') ? text.indexOf('?>') + 2 : 0;
  while (at < text.length) {
    const parent = stack.at(-1);
    if (text.startsWith('<!--', at)) {
      at = text.indexOf('-->', at) + 3;
    } else if (text.startsWith('<![CDATA[', at)) {
      const end = text.indexOf(']]>', at);
      parent.text += text.slice(at + 9, end);
      at = end + 3;
    } else if (text.startsWith('</', at)) {
      const end = text.indexOf('>', at);
      const name = text.slice(at + 2, end).trim();
      if (stack.length === 1 || stack.pop().name !== name) throw new Error(`unexpected </${name}>`);
      at = end + 1;
    } else if (text[at] === '<') {
      const { element, selfClosing, next } = openTag(text, at);
      parent.children.push(element);
      if (!selfClosing) stack.push(element);
      at = next;
    } else {
      const end = text.indexOf('<', at) === -1 ? text.length : text.indexOf('<', at);
      const content = decode(text.slice(at, end));
      if (stack.length === 1 && content.trim() !== '') throw new Error('text outside the root element');
      parent.text += content;
      at = end;
    }
  }
  if (stack.length !== 1) throw new Error(`<${stack.at(-1).name}> is not closed`);
  if (top.children.length !== 1) throw new Error(`${top.children.length} root elements`);
  return top.children[0];
}

/** Every element named `name` at any depth under `element`. */
export function findAll(element, name) {
  return element.children.flatMap((child) => [...(child.name === name ? [child] : []), ...findAll(child, name)]);
}
