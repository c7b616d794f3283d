//! A todo list: a `Vector` of records whose fields are `LwwRegister`s, so two members editing
//! different fields of one todo concurrently both keep their edit. `apps/todo-ts` is its
//! TypeScript twin, checked with `cargo calimero compat`.

use calimero_sdk::app;
use calimero_sdk::borsh::{BorshDeserialize, BorshSerialize};
use calimero_sdk::serde::Serialize;
use calimero_storage::collections::{LwwRegister, Mergeable, Vector};

#[app::state(emits = Event)]
pub struct TodoList {
    items: Vector<Todo>,
}

/// One todo as stored: each field merges on its own.
#[derive(BorshSerialize, BorshDeserialize, Mergeable)]
#[borsh(crate = "calimero_sdk::borsh")]
pub struct Todo {
    title: LwwRegister<String>,
    done: LwwRegister<bool>,
    due: LwwRegister<u64>,
}

/// One todo as callers see it.
#[derive(Serialize, app::AbiType)]
#[serde(crate = "calimero_sdk::serde")]
pub struct TodoView {
    title: String,
    done: bool,
    due: u64,
}

impl Todo {
    fn view(&self) -> TodoView {
        TodoView {
            title: self.title.get().clone(),
            done: *self.done.get(),
            due: *self.due.get(),
        }
    }
}

#[app::event]
pub enum Event {
    Added { index: u32, title: String },
    Completed { index: u32 },
}

/// Returned to callers as `{"kind": "NoSuchTodo", "data": <index>}`.
#[app::error]
#[derive(Debug)]
pub enum Error {
    NoSuchTodo(u32),
}

#[app::logic]
impl TodoList {
    #[app::init]
    pub fn init() -> TodoList {
        TodoList {
            items: Vector::new(),
        }
    }

    /// Adds a todo due at `due` (any unit the app agrees on); returns its index.
    pub fn add(&mut self, title: String, due: u64) -> app::Result<u32> {
        let index = self.items.len()? as u32;
        self.items.push(Todo {
            title: LwwRegister::new(title.clone()),
            done: LwwRegister::new(false),
            due: LwwRegister::new(due),
        })?;
        app::emit!(Event::Added { index, title });
        Ok(index)
    }

    fn todo(&self, index: u32) -> app::Result<Todo> {
        match self.items.get(index as usize)? {
            Some(todo) => Ok(todo),
            None => app::bail!(Error::NoSuchTodo(index)),
        }
    }

    /// Marks a todo done; false if it already was.
    pub fn complete(&mut self, index: u32) -> app::Result<bool> {
        let mut todo = self.todo(index)?;
        if *todo.done.get() {
            return Ok(false);
        }
        todo.done.set(true);
        self.items.update(index as usize, todo)?;
        app::emit!(Event::Completed { index });
        Ok(true)
    }

    /// Renames a todo.
    pub fn retitle(&mut self, index: u32, title: String) -> app::Result<TodoView> {
        let mut todo = self.todo(index)?;
        todo.title.set(title);
        let view = todo.view();
        self.items.update(index as usize, todo)?;
        Ok(view)
    }

    /// Moves a todo's due date.
    pub fn reschedule(&mut self, index: u32, due: u64) -> app::Result<TodoView> {
        let mut todo = self.todo(index)?;
        todo.due.set(due);
        let view = todo.view();
        self.items.update(index as usize, todo)?;
        Ok(view)
    }

    /// Removes the last todo and returns it.
    pub fn pop(&mut self) -> app::Result<Option<TodoView>> {
        Ok(self.items.pop()?.map(|todo| todo.view()))
    }

    /// One todo, or null.
    #[app::view]
    pub fn get(&self, index: u32) -> app::Result<Option<TodoView>> {
        Ok(self.items.get(index as usize)?.map(|todo| todo.view()))
    }

    /// Every todo, in the order they were added.
    #[app::view]
    pub fn list(&self) -> app::Result<Vec<TodoView>> {
        Ok(self.items.iter()?.map(|todo| todo.view()).collect())
    }

    /// The number of todos not done whose due date is at most `by`.
    #[app::view]
    pub fn due_by(&self, by: u64) -> app::Result<u32> {
        Ok(self
            .items
            .iter()?
            .filter(|todo| !*todo.done.get() && *todo.due.get() <= by)
            .count() as u32)
    }
}
