// A todo list: a Vector of records whose fields are LwwRegisters, so two members editing
// different fields of one todo concurrently both keep their edit. The TypeScript twin of
// apps/todo: same methods, results, events and stored bytes.
import { AppError, Event, Init, Logic, Mergeable, State, View, emit, u32, u64 } from "@calimero/sdk";
import { LwwRegister, Vector } from "@calimero/sdk/collections";

/** One todo as stored: each field merges on its own. */
@Mergeable()
export class Todo {
  constructor(
    public title: LwwRegister<string>,
    public done: LwwRegister<boolean>,
    public due: LwwRegister<u64>,
  ) {}
}

/** One todo as callers see it. */
export class TodoView {
  constructor(public title: string, public done: boolean, public due: u64) {}
}

function view(todo: Todo): TodoView {
  return new TodoView(todo.title.get(), todo.done.get(), todo.due.get());
}

@Event
export class Added {
  constructor(public index: u32, public title: string) {}
}

@Event
export class Completed {
  constructor(public index: u32) {}
}

@State
export class TodoList {
  items: Vector<Todo> = new Vector();
}

@Logic(TodoList)
export class TodoLogic extends TodoList {
  @Init
  static init(): TodoList {
    return new TodoList();
  }

  /** Adds a todo due at `due` (any unit the app agrees on); returns its index. */
  add(title: string, due: u64): u32 {
    const index = this.items.len();
    this.items.push(new Todo(new LwwRegister(title), new LwwRegister(false), new LwwRegister(due)));
    emit(new Added(index, title));
    return index;
  }

  private todo(index: u32): Todo {
    const todo = this.items.get(index);
    if (todo === null) throw new AppError("NoSuchTodo", index);
    return todo;
  }

  /** Marks a todo done; false if it already was. */
  complete(index: u32): boolean {
    const todo = this.todo(index);
    if (todo.done.get()) return false;
    todo.done.set(true);
    this.items.update(index, todo);
    emit(new Completed(index));
    return true;
  }

  /** Renames a todo. */
  retitle(index: u32, title: string): TodoView {
    const todo = this.todo(index);
    todo.title.set(title);
    this.items.update(index, todo);
    return view(todo);
  }

  /** Moves a todo's due date. */
  reschedule(index: u32, due: u64): TodoView {
    const todo = this.todo(index);
    todo.due.set(due);
    this.items.update(index, todo);
    return view(todo);
  }

  /** Removes the last todo and returns it. */
  pop(): TodoView | null {
    const todo = this.items.pop();
    return todo === null ? null : view(todo);
  }

  /** One todo, or null. */
  @View()
  get(index: u32): TodoView | null {
    const todo = this.items.get(index);
    return todo === null ? null : view(todo);
  }

  /** Every todo, in the order they were added. */
  @View()
  list(): TodoView[] {
    return this.items.toArray().map(view);
  }

  /** The number of todos not done whose due date is at most `by`. */
  @View()
  due_by(by: u64): u32 {
    return this.items.toArray().filter((todo) => !todo.done.get() && todo.due.get() <= by).length;
  }
}
