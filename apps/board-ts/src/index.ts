// Nested collections: a set of tags per item and a vote counter per option. The TypeScript
// twin of apps/board: same methods, results, events and stored bytes.
import { AppError, Event, Init, Logic, State, View, emit, u32, u64 } from "@calimero/sdk";
import {
  Counter, FrozenStorage, ReplicatedGrowableArray, SortedMap, SortedSet, UnorderedMap, UnorderedSet,
  SharedStorage, UserStorage,
} from "@calimero/sdk/collections";
import { executorId } from "@calimero/sdk/env";

@Event
export class Tagged {
  constructor(public item: string, public tag: string) {}
}

@Event
export class Voted {
  constructor(public option: string, public total: u64) {}
}

@State
export class Board {
  tags: UnorderedMap<string, UnorderedSet<string>> = new UnorderedMap();
  votes: UnorderedMap<string, Counter> = new UnorderedMap();
  pins: SortedMap<string, u32> = new SortedMap();
  labels: SortedSet<string> = new SortedSet();
  notes: FrozenStorage<string> = new FrozenStorage();
  doc: ReplicatedGrowableArray = new ReplicatedGrowableArray();
  status: UserStorage<string> = new UserStorage();
  // Its creator is its first editor.
  banner: SharedStorage<string> = new SharedStorage([executorId()]);
}

function toHex(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += (b < 16 ? "0" : "") + b.toString(16);
  return out;
}

function fromHex(text: string): Uint8Array | null {
  if (text.length !== 64 || !/^[0-9a-fA-F]*$/.test(text)) return null;
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

@Logic(Board)
export class BoardLogic extends Board {
  @Init
  static init(): Board {
    return new Board();
  }

  /** Tags `item` (creating it); false if it already had the tag. */
  tag(item: string, tag: string): boolean {
    let tags = this.tags.get(item);
    if (tags === null) {
      tags = new UnorderedSet();
      this.tags.set(item, tags);
    }
    const added = tags.add(tag);
    if (added) emit(new Tagged(item, tag));
    return added;
  }

  /** Adds a new item with its tags (duplicates counted once); returns how many it has. The set
   * is filled before it is put into the map, and stored as if filled after. */
  add_item(item: string, tags: string[]): u32 {
    if (this.tags.has(item)) throw new AppError("ItemExists", item);
    const set = new UnorderedSet<string>();
    for (const tag of tags) set.add(tag);
    const count = set.size();
    this.tags.set(item, set);
    return count;
  }

  /** Opens `option` with `weight` votes counted before the counter is stored; false if the
   * option exists. */
  open_option(option: string, weight: u32): boolean {
    if (this.votes.has(option)) return false;
    const counter = new Counter();
    counter.incrementBy(weight);
    this.votes.set(option, counter);
    return true;
  }

  /** Removes a tag; false if the item did not have it. An unknown item is an error. */
  untag(item: string, tag: string): boolean {
    const tags = this.tags.get(item);
    if (tags === null) throw new AppError("NoSuchItem", item);
    return tags.delete(tag);
  }

  /** Removes an item with all its tags; false if there was none. */
  drop_item(item: string): boolean {
    return this.tags.remove(item) !== null;
  }

  /** The item's tags in the order they were first added, or null for an unknown item. */
  @View()
  tags_of(item: string): string[] | null {
    const tags = this.tags.get(item);
    return tags === null ? null : tags.toArray();
  }

  /** Every item with its number of tags. */
  @View()
  items(): [string, u32][] {
    return this.tags.entries().map(([item, tags]): [string, u32] => [item, tags.size()]);
  }

  /** Adds `weight` votes to `option`; returns its new total. */
  vote(option: string, weight: u32): u64 {
    let counter = this.votes.get(option);
    if (counter === null) {
      counter = new Counter();
      this.votes.set(option, counter);
    }
    counter.incrementBy(weight);
    const total = counter.value();
    emit(new Voted(option, total));
    return total;
  }

  /** Pins `item` with `weight`; returns the previous weight. */
  pin(item: string, weight: u32): u32 | null {
    const previous = this.pins.get(item);
    this.pins.set(item, weight);
    return previous;
  }

  /** Unpins `item`; false if it was not pinned. */
  unpin(item: string): boolean {
    return this.pins.remove(item) !== null;
  }

  /** Every pin, by item name (UTF-8 byte order). */
  @View()
  all_pins(): [string, u32][] {
    return this.pins.entries();
  }

  /** The pins with `from <= item < to`, in order. */
  @View()
  pins_between(from: string, to: string): [string, u32][] {
    return this.pins.range(from, to);
  }

  /** At most `limit` pins after skipping `offset`, in order. */
  @View()
  pin_page(offset: u32, limit: u32): [string, u32][] {
    return this.pins.page(offset, limit);
  }

  /** The pin with the least item name. */
  @View()
  first_pin(): [string, u32] | null {
    return this.pins.first();
  }

  /** The pin with the greatest item name. */
  @View()
  last_pin(): [string, u32] | null {
    return this.pins.last();
  }

  /** Adds a board label; false if it exists. */
  label(name: string): boolean {
    return this.labels.add(name);
  }

  /** Removes a board label; false if it did not exist. */
  unlabel(name: string): boolean {
    return this.labels.delete(name);
  }

  /** The labels from `from` on, in order, with the least label first. */
  @View()
  labels_from(from: string): [string[], string | null] {
    return [this.labels.range(from, null), this.labels.first()];
  }

  /** Stores a note for good; returns its key (the SHA-256 of its encoding) in hex. */
  freeze(note: string): string {
    return toHex(this.notes.insert(note));
  }

  /** The note under a hex key; null for an unknown or malformed key. */
  @View()
  frozen_note(key: string): string | null {
    const bytes = fromHex(key);
    return bytes === null ? null : this.notes.get(bytes);
  }

  /** How many distinct notes are frozen. */
  @View()
  note_count(): u32 {
    return this.notes.size();
  }

  /** Sets the caller's status (only the caller can); returns the previous one. */
  set_status(text: string): string | null {
    return this.status.insert(text);
  }

  /** The caller's status. */
  @View()
  my_status(): string | null {
    return this.status.get();
  }

  /** The status of the member whose account is `user` (hex); null if none or malformed. */
  @View()
  status_of(user: string): string | null {
    const bytes = fromHex(user);
    return bytes === null ? null : this.status.getForUser(bytes);
  }

  /** Clears the caller's status; returns it. */
  clear_status(): string | null {
    return this.status.remove();
  }

  /** Sets the banner if the caller is one of its editors; false (and nothing changes) if not. */
  set_banner(text: string): boolean {
    try {
      this.banner.insert(text);
      return true;
    } catch {
      return false;
    }
  }

  /** The banner. */
  @View()
  banner_text(): string {
    return this.banner.get();
  }

  /** Adds an editor (hex account) if the caller is one; false if not or malformed. */
  add_editor(user: string): boolean {
    const bytes = fromHex(user);
    if (bytes === null) return false;
    try {
      this.banner.rotateWriters([...this.banner.writers(), bytes]);
      return true;
    } catch {
      return false;
    }
  }

  /** Removes the caller from the editors, if it is one. */
  leave_editors(): boolean {
    const me = toHex(executorId());
    try {
      this.banner.rotateWriters(this.banner.writers().filter((w) => toHex(w) !== me));
      return true;
    } catch {
      return false;
    }
  }

  /** The editors (hex accounts, in byte order). */
  @View()
  editors(): string[] {
    return this.banner.writers().map(toHex);
  }

  /** How many members have a status. */
  @View()
  status_count(): u32 {
    return this.status.size();
  }

  /** Types `text` into the shared document at `pos` (past the end: at the end); returns it. */
  write(pos: u32, text: string): string {
    this.doc.insertStr(Math.min(pos, this.doc.len()), text);
    return this.doc.getText();
  }

  /** Deletes up to `count` characters of the document from `start`; returns it. */
  erase(start: u32, count: u32): string {
    const len = this.doc.len();
    const from = Math.min(start, len);
    this.doc.deleteRange(from, Math.min(from + count, len));
    return this.doc.getText();
  }

  /** Every option with its total, in the order options were first voted for. */
  @View()
  tally(): [string, u64][] {
    return this.votes.entries().map(([option, counter]): [string, u64] => [option, counter.value()]);
  }
}
