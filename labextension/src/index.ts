/**
 * The session's clock inside JupyterLab.
 *
 * The session's server (startnotebook.server.session_api) says when each end comes: the wall
 * time, the notebook timeout (while no kernel and no terminal exists) and each kernel's idle cull.
 * This extension shows that in the status bar, warns at the site's lead times before each end
 * (JupyterLab's notifications), and offers "Stop session" in the File menu.
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
import { DocumentRegistry } from '@jupyterlab/docregistry';
import { IDocumentManager } from '@jupyterlab/docmanager';
import { IMainMenu } from '@jupyterlab/mainmenu';
import { ServerConnection } from '@jupyterlab/services';
import { IStatusBar } from '@jupyterlab/statusbar';
import { Widget } from '@lumino/widgets';

const POLL_MS = 30_000;
const TICK_MS = 1_000;
const SESSION_API = 'startnotebook/api/session';
const STOP_API = 'startnotebook/api/stop';
const STOP_COMMAND = 'startnotebook:stop-session';

/** One end the session's server knows of (schemas/session-api.schema.json). */
interface IDeadline {
  kind: 'wall_time' | 'notebook_timeout' | 'kernel_idle';
  at: string;
  then: string;
  warn_before: number[];
  kernel?: string;
}

interface ISession {
  name: string;
  now: string;
  deadlines: IDeadline[];
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

/** What a warning says, in the words of the status bar. */
function warningText(name: string, deadline: IDeadline): string {
  const at = clockTime(Date.parse(deadline.at));
  if (deadline.kind === 'wall_time') {
    return `Session ${name} ends at ${at} (wall time). Save your work before then.`;
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
  await Promise.all(unsavedContexts(app, docManager).map(context => context.save()));
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
    const tick = () => {
      render(clock, item);
      warnings.check(clock);
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
    window.setInterval(() => void refresh(), POLL_MS);
    window.setInterval(tick, TICK_MS);
  }
};

export default plugin;
