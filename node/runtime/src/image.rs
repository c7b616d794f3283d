//! Copy-on-write initial memories.
//!
//! Every call gets a fresh instance, so every call used to copy the module's data segments into
//! new memory: for a TypeScript app built with the pre-initialised snapshot that is the whole
//! engine heap (hundreds of KiB), faulted in page by page, zeroed, copied and unmapped again,
//! most of it never read by the method. Instead, the first instance of a module records what
//! its data segments write; the runtime keeps that as an in-memory file (memfd), and later
//! instances map the file privately: pages a call only reads are shared with the file, pages it
//! writes are copied on first write, and the data segments themselves are not copied again.
//!
//! What a module observes is unchanged: the mapping holds exactly the bytes the data segments
//! would have written, and everything else reads as zero. A write the recording does not match
//! (a `memory.init` at run time, a module whose segments are not the recorded ones) is carried
//! out as usual, so correctness never depends on the match, only the speed does.
//!
//! A dropped instance's memory is not unmapped but cleaned and kept for the next instance of the
//! same module (a few per module): the pages the call wrote are found in `/proc/self/pagemap`
//! (a page of the image a call wrote is the call's private copy, no longer the file's) and
//! copied back from the image, or zeroed outside it, and memory it grew is unmapped. The pages a
//! call writes are then already private to the next call, which starts without the page faults
//! that copying them on write costs, and without mapping and unmapping the memory. Where the page
//! map cannot be read the memory is unmapped as before.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::ptr::NonNull;
use std::sync::{Arc, Mutex};

use wasmer::sys::vm::{LinearMemory, MemoryError, MemoryStyle, Trap, VMMemory, VMMemoryDefinition};
use wasmer::{MemoryType, Pages};

/// Data segments writing less than this stay copied: a mapping costs more than it saves.
const WORTH_MAPPING: usize = 64 << 10;
const WASM_PAGE: usize = 65536;
const OS_PAGE: usize = 4096;

/// One active data segment as wasmer hands it to the memory: where it goes, how long it is and
/// where its bytes live in the compiled module (the same address for every instance).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Segment {
    start: usize,
    len: usize,
    source: usize,
}

/// A module's initial memory as a private, read-only in-memory file.
pub struct MemoryImage {
    #[cfg(target_os = "linux")]
    file: std::os::fd::OwnedFd,
    /// The file's length: the recorded writes' end, rounded up to whole OS pages.
    len: usize,
    segments: Vec<Segment>,
    /// The file mapped shared and read-only: where cleaned memories copy the image back from.
    source: Source,
    /// Cleaned memories, ready for the next instance.
    spare: Mutex<Vec<Region>>,
    /// How many instances got a cleaned memory.
    reused: std::sync::atomic::AtomicU64,
}

/// At most this many cleaned memories are kept per module: calls of one module running at once.
const SPARE_MEMORIES: usize = 4;

impl fmt::Debug for MemoryImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryImage")
            .field("len", &self.len)
            .field("segments", &self.segments.len())
            .finish()
    }
}

impl MemoryImage {
    /// The image of `writes` (in the order wasmer made them), or `None` when they are too small
    /// to be worth a mapping or the system has no in-memory files.
    fn build(writes: &[(Segment, Vec<u8>)]) -> Option<Self> {
        let total: usize = writes.iter().map(|(s, _)| s.len).sum();
        if total < WORTH_MAPPING {
            return None;
        }
        let end = writes.iter().map(|(s, _)| s.start + s.len).max()?;
        let len = end.div_ceil(OS_PAGE) * OS_PAGE;
        let mut bytes = vec![0u8; len];
        for (segment, data) in writes {
            bytes[segment.start..segment.start + segment.len].copy_from_slice(data);
        }
        let file = Self::to_file(&bytes)?;
        let source = Source::map(&file, len)?;
        Some(Self {
            #[cfg(target_os = "linux")]
            file,
            len,
            segments: writes.iter().map(|(s, _)| *s).collect(),
            source,
            spare: Mutex::new(Vec::new()),
            reused: Default::default(),
        })
    }

    /// A cleaned memory of `reserved` bytes with `initial` accessible, if one is kept.
    fn take_spare(&self, reserved: usize, initial: usize) -> Option<Region> {
        let mut spare = self.spare.lock().unwrap_or_else(|e| e.into_inner());
        let at = spare
            .iter()
            .position(|r| r.reserved == reserved && r.initial == initial)?;
        self.reused
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Some(spare.swap_remove(at))
    }

    /// Keeps `region`, which `clean` has made equal to a fresh one, for the next instance.
    fn keep(&self, region: Region) {
        let mut spare = self.spare.lock().unwrap_or_else(|e| e.into_inner());
        if spare.len() < SPARE_MEMORIES {
            spare.push(region);
        }
    }

    /// How many instances got a cleaned memory (for tests and diagnostics).
    pub fn reused(&self) -> u64 {
        self.reused.load(std::sync::atomic::Ordering::Relaxed)
    }

    #[cfg(target_os = "linux")]
    fn to_file(bytes: &[u8]) -> Option<std::os::fd::OwnedFd> {
        use std::io::Write;
        use std::os::fd::{FromRawFd, OwnedFd};
        // SAFETY: a plain system call with a NUL-terminated name; the result is checked.
        let fd =
            unsafe { libc::memfd_create(c"calimero-memory-image".as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return None;
        }
        // SAFETY: `fd` was just created and is owned by nothing else.
        let file = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut handle = std::fs::File::from(file);
        handle.write_all(bytes).ok()?;
        Some(handle.into())
    }

    #[cfg(not(target_os = "linux"))]
    fn to_file(_bytes: &[u8]) -> Option<()> {
        None
    }
}

/// An image file mapped shared and read-only.
struct Source {
    base: *const u8,
    len: usize,
}

// SAFETY: a read-only mapping of a file nobody writes, unmapped only on drop.
unsafe impl Send for Source {}
unsafe impl Sync for Source {}

impl Source {
    #[cfg(target_os = "linux")]
    fn map(file: &std::os::fd::OwnedFd, len: usize) -> Option<Self> {
        use std::os::fd::AsRawFd;
        // SAFETY: a fresh read-only mapping of the whole file, checked.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        (base != libc::MAP_FAILED).then(|| Self {
            base: base.cast(),
            len,
        })
    }

    #[cfg(not(target_os = "linux"))]
    fn map(_file: &(), _len: usize) -> Option<Self> {
        None
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: the mapping is `len` bytes, read-only, alive as long as `self`.
        unsafe { std::slice::from_raw_parts(self.base, self.len) }
    }
}

impl Drop for Source {
    fn drop(&mut self) {
        #[cfg(target_os = "linux")]
        // SAFETY: mapped by `map`, unmapped once, here.
        unsafe {
            libc::munmap(self.base.cast_mut().cast(), self.len);
        }
    }
}

/// A memory's reservation (bound and guard): the image mapped privately at its start, zeroes
/// up to `initial`, inaccessible above.
struct Region {
    base: *mut u8,
    reserved: usize,
    initial: usize,
}

// SAFETY: the mapping is owned by this value alone.
unsafe impl Send for Region {}

impl Drop for Region {
    fn drop(&mut self) {
        #[cfg(target_os = "linux")]
        // SAFETY: the reservation was made by `Region::reserve` and is unmapped once, here.
        unsafe {
            libc::munmap(self.base.cast(), self.reserved);
        }
    }
}

impl Region {
    #[cfg(target_os = "linux")]
    fn reserve(reserved: usize, initial: usize, image: &MemoryImage) -> Option<Self> {
        use std::os::fd::AsRawFd;
        // SAFETY: a fresh reservation, checked; nothing else refers to it.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                reserved,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return None;
        }
        let region = Self {
            base: base.cast(),
            reserved,
            initial,
        };
        // SAFETY: both ranges lie inside the reservation made above, which `region` owns (and
        // unmaps on drop, also when this returns early).
        unsafe {
            if image.len > 0 {
                let mapped = libc::mmap(
                    base,
                    image.len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_FIXED,
                    image.file.as_raw_fd(),
                    0,
                );
                if mapped == libc::MAP_FAILED {
                    return None;
                }
            }
            if initial > image.len
                && libc::mprotect(
                    base.cast::<u8>().add(image.len).cast(),
                    initial - image.len,
                    libc::PROT_READ | libc::PROT_WRITE,
                ) != 0
            {
                return None;
            }
        }
        Some(region)
    }

    #[cfg(not(target_os = "linux"))]
    fn reserve(_reserved: usize, _initial: usize, _image: &MemoryImage) -> Option<Self> {
        None
    }

    /// Makes the region what [`Region::reserve`] made after a call used it with `length` bytes
    /// accessible: grown memory unmapped, and every page the call wrote copied back from the
    /// image or zeroed. `None` (and the region is unmapped) if that cannot be done.
    #[cfg(target_os = "linux")]
    fn clean(self, length: usize, image: &MemoryImage) -> Option<Self> {
        if length > self.initial {
            // SAFETY: the grown range lies inside the reservation; it becomes a fresh
            // inaccessible anonymous range, its pages freed.
            let remapped = unsafe {
                libc::mmap(
                    self.base.add(self.initial).cast(),
                    length - self.initial,
                    libc::PROT_NONE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED | libc::MAP_NORESERVE,
                    -1,
                    0,
                )
            };
            if remapped == libc::MAP_FAILED {
                return None;
            }
        }
        let written = written_pages(self.base, self.initial)?;
        let source = image.source.bytes();
        for page in written {
            let at = page * OS_PAGE;
            // SAFETY: `at` is a page of the accessible range [0, initial) of this region, which
            // no instance uses any more.
            let target = unsafe { std::slice::from_raw_parts_mut(self.base.add(at), OS_PAGE) };
            if at < image.len {
                target.copy_from_slice(&source[at..at + OS_PAGE]);
            } else if target.iter().any(|b| *b != 0) {
                // Outside the image; a page only read is the shared zero page: left as it is.
                target.fill(0);
            }
        }
        Some(self)
    }

    #[cfg(not(target_os = "linux"))]
    fn clean(self, _length: usize, _image: &MemoryImage) -> Option<Self> {
        None
    }
}

/// The pages of `[base, base + len)` that are neither untouched nor still the mapped file's:
/// those a call may have written (`/proc/self/pagemap`: present or swapped, and not a file page).
#[cfg(target_os = "linux")]
fn written_pages(base: *mut u8, len: usize) -> Option<Vec<usize>> {
    use std::os::unix::fs::FileExt;
    static PAGEMAP: std::sync::OnceLock<Option<std::fs::File>> = std::sync::OnceLock::new();
    let pagemap = PAGEMAP
        .get_or_init(|| std::fs::File::open("/proc/self/pagemap").ok())
        .as_ref()?;
    let pages = len / OS_PAGE;
    let mut entries = vec![0u8; pages * 8];
    pagemap
        .read_exact_at(&mut entries, (base as u64 / OS_PAGE as u64) * 8)
        .ok()?;
    const PRESENT: u64 = 1 << 63;
    const SWAPPED: u64 = 1 << 62;
    const FILE: u64 = 1 << 61;
    Some(
        entries
            .chunks_exact(8)
            .enumerate()
            .filter(|(_, entry)| {
                let flags = u64::from_le_bytes((*entry).try_into().unwrap_or_default());
                flags & (PRESENT | SWAPPED) != 0 && flags & FILE == 0
            })
            .map(|(page, _)| page)
            .collect(),
    )
}

/// What the first instances of a module do about its image.
#[derive(Default)]
pub(crate) struct ImageSlot(Mutex<SlotState>);

#[derive(Default)]
enum SlotState {
    /// No instance has been made yet: the next one records.
    #[default]
    Unknown,
    /// An instance is recording; others meanwhile copy as usual.
    Recording,
    Ready(Arc<MemoryImage>),
    /// Recorded, and not worth mapping (or not possible here).
    Copy,
}

/// What the next memory created on this thread should be.
enum Plan {
    Record(Arc<Recording>),
    Map(Arc<MemoryImage>),
}

thread_local! {
    static PLAN: RefCell<Option<Plan>> = const { RefCell::new(None) };
}

type Writes = Mutex<Option<Vec<(Segment, Vec<u8>)>>>;

/// The writes of an instantiation being recorded.
#[derive(Default)]
struct Recording(Writes);

impl ImageSlot {
    /// Runs `instantiate` (wasmer's `Instance::new` of this slot's module) with the memory it
    /// creates either mapped from the image or recording one.
    pub(crate) fn instantiate<T, E>(
        &self,
        instantiate: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E> {
        let plan = {
            let mut state = self.0.lock().unwrap_or_else(|e| e.into_inner());
            match &*state {
                SlotState::Unknown => {
                    *state = SlotState::Recording;
                    Some(Plan::Record(Arc::new(Recording(Mutex::new(Some(
                        Vec::new(),
                    ))))))
                }
                SlotState::Ready(image) => Some(Plan::Map(image.clone())),
                SlotState::Recording | SlotState::Copy => None,
            }
        };
        let recording = match &plan {
            Some(Plan::Record(recording)) => Some(recording.clone()),
            _ => None,
        };
        PLAN.with(|p| *p.borrow_mut() = plan);
        let result = instantiate();
        // A plan no memory took (a module without one) must not reach the next instance.
        PLAN.with(|p| p.borrow_mut().take());
        if let Some(recording) = recording {
            let writes = recording.0.lock().unwrap_or_else(|e| e.into_inner()).take();
            let mut state = self.0.lock().unwrap_or_else(|e| e.into_inner());
            *state = match (&result, writes) {
                (Ok(_), Some(writes)) => match MemoryImage::build(&writes) {
                    Some(image) => SlotState::Ready(Arc::new(image)),
                    None => SlotState::Copy,
                },
                // A failed instantiation records nothing usable: try again next time.
                _ => SlotState::Unknown,
            };
        }
        result
    }

    /// The image, once recorded and worth mapping.
    pub fn image(&self) -> Option<Arc<MemoryImage>> {
        match &*self.0.lock().unwrap_or_else(|e| e.into_inner()) {
            SlotState::Ready(image) => Some(image.clone()),
            _ => None,
        }
    }
}

/// Called by the tunables for a memory an instance defines: `made` is the memory wasmer would
/// make. Returns what to use instead, following this thread's plan.
pub(crate) fn adopt(
    ty: &MemoryType,
    style: &MemoryStyle,
    location: NonNull<VMMemoryDefinition>,
    made: impl FnOnce() -> Result<VMMemory, MemoryError>,
) -> Result<VMMemory, MemoryError> {
    let Some(plan) = PLAN.with(|p| p.borrow_mut().take()) else {
        return made();
    };
    match plan {
        Plan::Record(recording) => Ok(VMMemory(Box::new(Recorder {
            inner: made()?.0,
            recording,
        }))),
        Plan::Map(image) => match Mapped::new(ty, style, location, image) {
            Some(memory) => Ok(VMMemory(Box::new(memory))),
            None => made(),
        },
    }
}

/// Wasmer's own memory, noting the data segments written into it while the instance is made.
#[derive(Debug)]
struct Recorder {
    inner: Box<dyn LinearMemory + 'static>,
    recording: Arc<Recording>,
}

impl fmt::Debug for Recording {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Recording")
    }
}

impl LinearMemory for Recorder {
    fn ty(&self) -> MemoryType {
        self.inner.ty()
    }
    fn size(&self) -> Pages {
        self.inner.size()
    }
    fn style(&self) -> MemoryStyle {
        self.inner.style()
    }
    fn grow(&mut self, delta: Pages) -> Result<Pages, MemoryError> {
        self.inner.grow(delta)
    }
    fn grow_at_least(&mut self, min_size: u64) -> Result<(), MemoryError> {
        self.inner.grow_at_least(min_size)
    }
    fn reset(&mut self) -> Result<(), MemoryError> {
        self.inner.reset()
    }
    fn vmmemory(&self) -> NonNull<VMMemoryDefinition> {
        self.inner.vmmemory()
    }
    fn try_clone(&self) -> Result<Box<dyn LinearMemory + 'static>, MemoryError> {
        self.inner.try_clone()
    }
    fn copy(&mut self) -> Result<Box<dyn LinearMemory + 'static>, MemoryError> {
        self.inner.copy()
    }
    unsafe fn initialize_with_data(&self, start: usize, data: &[u8]) -> Result<(), Trap> {
        // SAFETY: forwarded unchanged; wasmer checked the bounds.
        unsafe { self.inner.initialize_with_data(start, data)? };
        // Once the instance exists the runtime has taken the list: `memory.init` at run time is
        // not part of the image.
        if let Some(writes) = self
            .recording
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            let segment = Segment {
                start,
                len: data.len(),
                source: data.as_ptr() as usize,
            };
            writes.push((segment, data.to_vec()));
        }
        Ok(())
    }
}

/// A memory whose first pages map a [`MemoryImage`] privately (copy on write) and whose other
/// accessible pages are anonymous zeroes, in a reservation of the size wasmer's static style
/// asks for (so the compiled code's bounds checks by guard pages hold).
struct Mapped {
    /// Taken back (cleaned, for the next instance) on drop.
    region: Option<Region>,
    base: *mut u8,
    /// The accessible length: `initial` until the memory grows.
    length: usize,
    definition: NonNull<VMMemoryDefinition>,
    ty: MemoryType,
    style: MemoryStyle,
    bound: usize,
    image: Arc<MemoryImage>,
    /// How many of the image's segments the instantiation has written (and were skipped);
    /// `usize::MAX` once a write did not match, after which every write is carried out.
    matched: Cell<usize>,
}

// SAFETY: the mapping is owned by this value alone; wasmer moves memories between threads only
// with the store, which is never used by two threads at once.
unsafe impl Send for Mapped {}

impl fmt::Debug for Mapped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mapped")
            .field("size", &self.size())
            .field("image", &self.image)
            .finish()
    }
}

impl Mapped {
    fn new(
        ty: &MemoryType,
        style: &MemoryStyle,
        location: NonNull<VMMemoryDefinition>,
        image: Arc<MemoryImage>,
    ) -> Option<Self> {
        let MemoryStyle::Static {
            bound,
            offset_guard_size,
        } = *style
        else {
            return None;
        };
        let bound = bound.bytes().0;
        let initial = ty.minimum.bytes().0;
        if image.len > initial || initial > bound {
            return None;
        }
        let reserved = bound.checked_add(usize::try_from(offset_guard_size).ok()?)?;
        let region = match image.take_spare(reserved, initial) {
            Some(region) => region,
            None => Region::reserve(reserved, initial, &image)?,
        };
        let base = region.base;
        // SAFETY: the definition is the instance's slot for this memory, handed to us to fill.
        unsafe {
            let definition = &mut *location.as_ptr();
            definition.base = base;
            definition.current_length = initial;
        }
        Some(Self {
            region: Some(region),
            base,
            length: initial,
            definition: location,
            ty: *ty,
            style: *style,
            bound,
            image,
            matched: Cell::new(0),
        })
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        if let Some(region) = self.region.take()
            && let Some(clean) = region.clean(self.length, &self.image)
        {
            self.image.keep(clean);
        }
    }
}

impl LinearMemory for Mapped {
    fn ty(&self) -> MemoryType {
        MemoryType {
            minimum: self.size(),
            ..self.ty
        }
    }

    fn size(&self) -> Pages {
        Pages((self.length / WASM_PAGE) as u32)
    }

    fn style(&self) -> MemoryStyle {
        self.style
    }

    fn grow(&mut self, delta: Pages) -> Result<Pages, MemoryError> {
        let previous = self.size();
        if delta.0 == 0 {
            return Ok(previous);
        }
        let refused = MemoryError::CouldNotGrow {
            current: previous,
            attempted_delta: delta,
        };
        let Some(wanted) = previous.0.checked_add(delta.0).map(Pages) else {
            return Err(refused);
        };
        if self.ty.maximum.is_some_and(|maximum| wanted > maximum) || wanted.bytes().0 > self.bound
        {
            return Err(refused);
        }
        let current = self.length;
        let added = wanted.bytes().0 - current;
        #[cfg(target_os = "linux")]
        // SAFETY: the grown range lies inside the reservation (checked against the bound).
        unsafe {
            if libc::mprotect(
                self.base.add(current).cast(),
                added,
                libc::PROT_READ | libc::PROT_WRITE,
            ) != 0
            {
                return Err(MemoryError::Region(
                    std::io::Error::last_os_error().to_string(),
                ));
            }
            (*self.definition.as_ptr()).current_length = current + added;
        }
        self.length = current + added;
        Ok(previous)
    }

    fn vmmemory(&self) -> NonNull<VMMemoryDefinition> {
        self.definition
    }

    fn try_clone(&self) -> Result<Box<dyn LinearMemory + 'static>, MemoryError> {
        Err(MemoryError::MemoryNotShared)
    }

    fn copy(&mut self) -> Result<Box<dyn LinearMemory + 'static>, MemoryError> {
        Err(MemoryError::UnsupportedOperation {
            message: "a memory mapped from a module image cannot be copied".into(),
        })
    }

    unsafe fn initialize_with_data(&self, start: usize, data: &[u8]) -> Result<(), Trap> {
        let index = self.matched.get();
        let segment = Segment {
            start,
            len: data.len(),
            source: data.as_ptr() as usize,
        };
        if self.image.segments.get(index) == Some(&segment) {
            // The image holds these bytes already.
            self.matched.set(index + 1);
            return Ok(());
        }
        self.matched.set(usize::MAX);
        // SAFETY: wasmer checked `start + data.len()` against the current length.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), self.base.add(start), data.len());
        }
        Ok(())
    }
}
