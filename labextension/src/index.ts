/**
 * The session's clock inside JupyterLab.
 *
 * The session's server (startnotebook.server.session_api) says when each end comes: the wall
 * time, the notebook timeout (while no kernel and no terminal exists) and each kernel's idle cull.
 * This extension shows that in the status bar, warns at the site's lead times before each end
 * (JupyterLab's notifications), says on a notebook when its idle kernel is close to its cull, and
 * offers "Stop session" in the File menu.
 *
 * Nothing unsaved is lost at an end the server decides (startnotebook.server.clean_end): each page
 * holds a long poll on EVENTS_API; when the session ends, the answer asks it to save every open
 * document, and the page says it did (SAVED_API) before the server stops.
 *
 * The server is asked every POLL_MS, and again when kernels or terminals come or go (that starts
 * or cancels the notebook timeout); between answers a local tick counts down. The server's clock
 * is the truth: the offset between it and the browser's is measured at every answer.
 */

import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { Dialog, Notification, showDialog } from '@jupyterlab/apputils';
import { URLExt } from '@jupyterlab/coreutils';
import { DocumentRegistry, DocumentWidget } from '@jupyterlab/docregistry';
import { IDocumentManager } from '@jupyterlab/docmanager';
import { IMainMenu } from '@jupyterlab/mainmenu';
import { ServerConnection } from '@jupyterlab/services';
import { IStatusBar } from '@jupyterlab/statusbar';
import { Widget } from '@lumino/widgets';

const POLL_MS = 30_000;
const TICK_MS = 1_000;
const SESSION_API = 'startnotebook/api/session';
const STOP_API = 'startnotebook/api/stop';
const EVENTS_API = 'startnotebook/api/events';
const SAVED_API = 'startnotebook/api/saved';
/** After a failed poll (the server restarting its loop, or gone at the end), wait this long. */
const RETRY_MS = 10_000;
const STOP_COMMAND = 'startnotebook:stop-session';

/** One end the session's server knows of (schemas/session-api.schema.json). */
interface IDeadline {
  kind: 'wall_time' | 'notebook_timeout' | 'kernel_idle';
  at: string;
  then: string;
  warn_before: number[];
  kernel?: string;
  save_before?: number;
}

interface ISession {
  name: string;
  now: string;
  deadlines: IDeadline[];
  ending: string | null;
}

/** The answer of the long poll (server/clean_end.py). */
interface IEvent {
  save: boolean;
  round?: number;
  reason?: string;
}

/** Seconds as h:mm (the wall time left: minutes are what matters). */
export function hoursMinutes(seconds: number): string {
  const minutes = Math.max(0, Math.floor(seconds / 60));
  return `${Math.floor(minutes / 60)}:${String(minutes % 60).padStart(2, '0')}`;
}

/** Seconds as m:ss (the notebook timeout: seconds matter). */
export function minutesSeconds(seconds: number): string {
  const whole = Math.max(0, Math.floor(seconds));
  return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, '0')}`;
}

/** A moment as the browser's local 17:42. */
function clockTime(epochMs: number): string {
  const date = new Date(epochMs);
  return `${String(date.getHours()).padStart(2, '0')}:${String(date.getMinutes()).padStart(2, '0')}`;
}

/** The session as last answered, with the server's clock. */
class SessionClock {
  session: ISession | null = null;
  private offsetMs = 0;

  constructor(private readonly settings: ServerConnection.ISettings) {}

  /** The server's idea of now, in epoch milliseconds. */
  now(): number {
    return Date.now() + this.offsetMs;
  }

  deadline(kind: IDeadline['kind']): IDeadline | undefined {
    return this.session?.deadlines.find(deadline => deadline.kind === kind);
  }

  secondsLeft(deadline: IDeadline): number {
    return (Date.parse(deadline.at) - this.now()) / 1000;
  }

  async refresh(): Promise<void> {
    const url = URLExt.join(this.settings.baseUrl, SESSION_API);
    const response = await ServerConnection.makeRequest(url, {}, this.settings);
    if (!response.ok) {
      throw new Error(`${SESSION_API} answered ${response.status}`);
    }
    const session = (await response.json()) as ISession;
    this.offsetMs = Date.parse(session.now) - Date.now();
    this.session = session;
  }

  /** Held by the server until the session ends (then: save), or answered "nothing" after a while. */
  async nextEvent(page: string): Promise<IEvent> {
    const url = URLExt.join(this.settings.baseUrl, EVENTS_API) + `?client=${page}`;
    const response = await ServerConnection.makeRequest(url, {}, this.settings);
    if (!response.ok) {
      throw new Error(`${EVENTS_API} answered ${response.status}`);
    }
    return (await response.json()) as IEvent;
  }

  async saved(page: string, round: number): Promise<void> {
    const url = URLExt.join(this.settings.baseUrl, SAVED_API) + `?client=${page}&round=${round}`;
    await ServerConnection.makeRequest(url, { method: 'POST' }, this.settings);
  }

  async stop(): Promise<void> {
    const url = URLExt.join(this.settings.baseUrl, STOP_API);
    const response = await ServerConnection.makeRequest(url, { method: 'POST' }, this.settings);
    if (!response.ok) {
      throw new Error(`${STOP_API} answered ${response.status}`);
    }
  }
}

/** The status bar item: text only changes when it must, so nothing flickers. */
class ClockItem extends Widget {
  private readonly main = document.createElement('span');
  private readonly stops = document.createElement('span');

  constructor() {
    super();
    this.addClass('jp-startnotebook-clock');
    this.stops.className = 'jp-startnotebook-clock-stops';
    this.node.append(this.main, this.stops);
  }

  display(main: string, stops: string, title: string): void {
    setText(this.main, main);
    setText(this.stops, stops);
    if (this.node.title !== title) {
      this.node.title = title;
    }
  }
}

function setText(element: HTMLElement, text: string): void {
  if (element.textContent !== text) {
    element.textContent = text;
  }
}

function render(clock: SessionClock, item: ClockItem): void {
  const session = clock.session;
  if (session === null) {
    return;
  }
  const wall = clock.deadline('wall_time');
  const idle = clock.deadline('notebook_timeout');
  const main = wall
    ? `${session.name} · ${hoursMinutes(clock.secondsLeft(wall))} left`
    : session.name;
  const stops = idle
    ? ` · stops in ${minutesSeconds(clock.secondsLeft(idle))} unless a kernel starts`
    : '';
  const title = wall
    ? `Session ${session.name} ends at ${clockTime(Date.parse(wall.at))} (wall time)`
    : `Session ${session.name}`;
  item.display(main, stops, title);
}

/** "1 minute", "90 seconds": a lead time in words. */
export function leadInWords(seconds: number): string {
  if (seconds % 60 === 0) {
    const minutes = seconds / 60;
    return `${minutes} minute${minutes === 1 ? '' : 's'}`;
  }
  return `${seconds} seconds`;
}

/** What a warning says, in the words of the status bar. */
function warningText(name: string, deadline: IDeadline): string {
  const at = clockTime(Date.parse(deadline.at));
  if (deadline.kind === 'wall_time') {
    const save = deadline.save_before
      ? ` Your open documents will be saved ${leadInWords(deadline.save_before)} before.`
      : '';
    return `Session ${name} ends at ${at} (wall time).${save}`;
  }
  return `Session ${name} stops at ${at} unless a kernel starts (notebook timeout).`;
}

/**
 * Warnings at each lead time before each end. An end warns once per lead time it crosses; a page
 * opened late shows the nearest warning only, and an end that moves (an admin changed the time
 * limit, a kernel came and went) warns afresh.
 */
class Warnings {
  private readonly given = new Set<string>();

  check(clock: SessionClock): void {
    const session = clock.session;
    if (session === null) {
      return;
    }
    for (const deadline of session.deadlines) {
      if (deadline.kind === 'kernel_idle') {
        continue;
      }
      const left = clock.secondsLeft(deadline);
      const due = deadline.warn_before.filter(lead => left <= lead);
      if (left <= 0 || due.length === 0) {
        continue;
      }
      const nearest = Math.min(...due);
      const key = (lead: number) => `${deadline.kind}@${deadline.at}@${lead}`;
      if (!this.given.has(key(nearest))) {
        due.forEach(lead => this.given.add(key(lead)));
        Notification.warning(warningText(session.name, deadline), { autoClose: false });
      }
    }
  }
}

/** Every open document with unsaved changes, once each (a document may have several views). */
function unsavedContexts(
  app: JupyterFrontEnd,
  docManager: IDocumentManager
): DocumentRegistry.Context[] {
  const contexts = new Set<DocumentRegistry.Context>();
  for (const widget of app.shell.widgets('main')) {
    const context = docManager.contextForWidget(widget);
    if (context && context.model.dirty && !context.model.readOnly) {
      contexts.add(context);
    }
  }
  return [...contexts];
}

/** Save every open document that has unsaved changes; a failure is logged, never thrown. */
async function saveAll(app: JupyterFrontEnd, docManager: IDocumentManager): Promise<void> {
  const results = await Promise.allSettled(
    unsavedContexts(app, docManager).map(context => context.save())
  );
  results
    .filter(result => result.status === 'rejected')
    .forEach(result => console.warn('startnotebook: cannot save', result));
}

/**
 * The page's long poll: when the session ends, save and say so, so the server may stop. A page
 * id per page load lets the server wait for each page that was there.
 */
async function listenForTheEnd(
  app: JupyterFrontEnd,
  docManager: IDocumentManager,
  clock: SessionClock
): Promise<void> {
  // (crypto.randomUUID needs a secure context; a session over plain HTTP is not one.)
  const page = Array.from(crypto.getRandomValues(new Uint8Array(16)), byte =>
    byte.toString(16).padStart(2, '0')
  ).join('');
  for (;;) {
    let event: IEvent;
    try {
      event = await clock.nextEvent(page);
    } catch (error) {
      await new Promise(resolve => window.setTimeout(resolve, RETRY_MS));
      continue;
    }
    if (event.save && event.round !== undefined) {
      await saveAll(app, docManager);
      await clock.saved(page, event.round);
      const name = clock.session?.name ?? 'this session';
      Notification.warning(
        `Session ${name} is ending (${event.reason}): your open documents were saved.`,
        { autoClose: false }
      );
      return;
    }
  }
}

/** On each notebook whose idle kernel is close to its cull: when, unless it is used. */
class CullNotes {
  private readonly notes = new Map<DocumentWidget, Widget>();

  update(app: JupyterFrontEnd, clock: SessionClock): void {
    const culls = (clock.session?.deadlines ?? []).filter(d => d.kind === 'kernel_idle');
    for (const widget of app.shell.widgets('main')) {
      if (!(widget instanceof DocumentWidget)) {
        continue;
      }
      const kernel = widget.context.sessionContext?.session?.kernel?.id;
      const cull = culls.find(deadline => deadline.kernel === kernel);
      const left = cull ? clock.secondsLeft(cull) : Infinity;
      const near = cull !== undefined && left > 0 && left <= Math.max(0, ...cull.warn_before);
      const note = this.noteOf(widget, near);
      if (note) {
        setText(note.node, near ? `Idle kernel shut down in ${minutesSeconds(left)} unless used` : '');
        note.setHidden(!near);
      }
    }
  }

  private noteOf(widget: DocumentWidget, wanted: boolean): Widget | undefined {
    let note = this.notes.get(widget);
    if (!note && wanted) {
      note = new Widget();
      note.addClass('jp-startnotebook-cull');
      widget.toolbar.insertItem(100, 'startnotebook-cull', note);
      this.notes.set(widget, note);
      widget.disposed.connect(() => this.notes.delete(widget));
    }
    return note;
  }
}

async function stopSession(
  app: JupyterFrontEnd,
  docManager: IDocumentManager,
  clock: SessionClock
): Promise<void> {
  const name = clock.session?.name ?? 'this session';
  const answer = await showDialog({
    title: `Stop session ${name}?`,
    body: 'Every open document is saved first; then the server stops and the job ends.',
    buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Stop session' })]
  });
  if (!answer.button.accept) {
    return;
  }
  await saveAll(app, docManager);
  await clock.stop();
  Notification.info(`Session ${name} stopped: its documents are saved. You may close this tab.`, {
    autoClose: false
  });
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'startnotebook:clock',
  description: "The session's clock: the time left, warnings before each end, Stop session.",
  autoStart: true,
  requires: [IDocumentManager],
  optional: [IStatusBar, IMainMenu],
  activate: (
    app: JupyterFrontEnd,
    docManager: IDocumentManager,
    statusBar: IStatusBar | null,
    mainMenu: IMainMenu | null
  ) => {
    const clock = new SessionClock(app.serviceManager.serverSettings);
    const item = new ClockItem();
    const warnings = new Warnings();
    const cullNotes = new CullNotes();
    const tick = () => {
      render(clock, item);
      warnings.check(clock);
      cullNotes.update(app, clock);
    };
    const refresh = () =>
      clock.refresh().then(tick, error => console.warn('startnotebook:', error));

    app.commands.addCommand(STOP_COMMAND, {
      label: 'Stop session',
      caption: 'Save every open document, then stop the server and end the job',
      execute: () => stopSession(app, docManager, clock)
    });
    mainMenu?.fileMenu.addGroup([{ command: STOP_COMMAND }], 1000);
    statusBar?.registerStatusItem('startnotebook:clock', {
      item,
      align: 'left',
      rank: -1
    });

    // A kernel or terminal that starts or ends starts or cancels the notebook timeout.
    app.serviceManager.kernels.runningChanged.connect(() => void refresh());
    app.serviceManager.terminals.runningChanged.connect(() => void refresh());
    void refresh();
    void listenForTheEnd(app, docManager, clock);
    window.setInterval(() => void refresh(), POLL_MS);
    window.setInterval(tick, TICK_MS);
  }
};

export default plugin;
