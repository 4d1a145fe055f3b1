/*
 * QuickFIX/J interoperability client for triquant's FIX acceptor (test/integration/fix-quickfixj.test.ts).
 *
 * A standard third-party FIX 4.4 engine (QuickFIX/J, with its FIX44 data dictionary validating
 * every message it receives) logs on to the acceptor, then runs one scripted conversation:
 *
 *   NewOrderSingle QFJ-1 (600000 + 207=XSHG, buy 1000 @ 10.05 limit)  -> ExecutionReport(s)
 *   OrderStatusRequest for QFJ-1                                      -> ExecutionReport 150=I
 *   OrderCancelRequest QFJ-2 for QFJ-1                                -> ExecutionReport 150=4
 *   OrderCancelRequest QFJ-3 for an unknown order                     -> OrderCancelReject
 *   Logout                                                            -> Logout
 *
 * Everything is printed to stdout as one JSON object per line:
 *   {"event":"in"|"out","raw":"8=FIX.4.4|9=..."}     every message QuickFIX/J received / sent
 *   {"event":"qfj","level":"event"|"error","text":...} QuickFIX/J session log (errors include
 *                                                      "Invalid message", checksum trouble, ...)
 *   {"event":"logon"} {"event":"logout"}
 *   {"event":"app","msgType":"8","fields":{"37":"...",...}}  each application message received
 *   {"event":"done","ok":true|false,"error":...}      the last line
 *
 * Usage: java -cp <classes>:<lib>/* QfjInitiator HOST PORT SENDER_COMP_ID TARGET_COMP_ID
 * Exit status 0 when every expected answer arrived, 1 otherwise. Bounded: every wait times out.
 */
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.Iterator;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

import quickfix.Application;
import quickfix.DefaultMessageFactory;
import quickfix.Field;
import quickfix.FieldMap;
import quickfix.Log;
import quickfix.LogFactory;
import quickfix.MemoryStoreFactory;
import quickfix.Message;
import quickfix.Session;
import quickfix.SessionID;
import quickfix.SessionSettings;
import quickfix.SocketInitiator;
import quickfix.field.Account;
import quickfix.field.ClOrdID;
import quickfix.field.MsgType;
import quickfix.field.OrdType;
import quickfix.field.OrderQty;
import quickfix.field.OrigClOrdID;
import quickfix.field.Price;
import quickfix.field.SecurityExchange;
import quickfix.field.Side;
import quickfix.field.Symbol;
import quickfix.field.TimeInForce;
import quickfix.field.TransactTime;
import quickfix.fix44.NewOrderSingle;
import quickfix.fix44.OrderCancelRequest;
import quickfix.fix44.OrderStatusRequest;

public final class QfjInitiator implements Application {
  private static final long WAIT_SECONDS = 10;

  private final CountDownLatch loggedOn = new CountDownLatch(1);
  private final CountDownLatch loggedOut = new CountDownLatch(1);
  private final LinkedBlockingQueue<Message> received = new LinkedBlockingQueue<>();

  public static void main(String[] args) throws Exception {
    if (args.length != 4) {
      System.err.println("usage: QfjInitiator HOST PORT SENDER_COMP_ID TARGET_COMP_ID");
      System.exit(2);
    }
    String settingsText = String.join("\n",
        "[DEFAULT]",
        "ConnectionType=initiator",
        "HeartBtInt=30",
        "ReconnectInterval=60",
        "StartTime=00:00:00",
        "EndTime=00:00:00",
        "UseDataDictionary=Y",
        "DataDictionary=FIX44.xml",
        "ValidateUserDefinedFields=Y",
        "ValidateFieldsOutOfOrder=Y",
        "ValidateIncomingMessage=Y",
        "CheckLatency=Y",
        "MaxLatency=120",
        "ResetOnLogon=Y",
        "SocketConnectHost=" + args[0],
        "SocketConnectPort=" + args[1],
        "[SESSION]",
        "BeginString=FIX.4.4",
        "SenderCompID=" + args[2],
        "TargetCompID=" + args[3],
        "");
    SessionSettings settings = new SessionSettings(new ByteArrayInputStream(settingsText.getBytes(StandardCharsets.UTF_8)));
    QfjInitiator app = new QfjInitiator();
    SocketInitiator initiator = new SocketInitiator(app, new MemoryStoreFactory(), settings, new JsonLogFactory(), new DefaultMessageFactory());
    boolean ok = false;
    String error = null;
    try {
      initiator.start();
      SessionID id = new SessionID("FIX.4.4", args[2], args[3]);
      ok = app.run(id);
    } catch (Exception e) {
      error = e.toString();
    } finally {
      initiator.stop(true);
    }
    print("{\"event\":\"done\",\"ok\":" + ok + (error == null ? "" : ",\"error\":" + json(error)) + "}");
    System.exit(ok ? 0 : 1);
  }

  private boolean run(SessionID id) throws Exception {
    if (!loggedOn.await(WAIT_SECONDS, TimeUnit.SECONDS)) throw new IllegalStateException("no logon within " + WAIT_SECONDS + " s");

    NewOrderSingle order = new NewOrderSingle(new ClOrdID("QFJ-1"), new Side(Side.BUY), new TransactTime(LocalDateTime.now(ZoneOffset.UTC)), new OrdType(OrdType.LIMIT));
    order.set(new Symbol("600000"));
    order.set(new SecurityExchange("XSHG"));
    order.set(new OrderQty(1000));
    order.set(new Price(10.05));
    order.set(new TimeInForce(TimeInForce.DAY));
    order.set(new Account("ACC1"));
    Session.sendToTarget(order, id);
    expect("ExecutionReport New for QFJ-1", m -> isExec(m, "0", "QFJ-1"));

    OrderStatusRequest status = new OrderStatusRequest(new ClOrdID("QFJ-1"), new Side(Side.BUY));
    status.set(new Symbol("600000"));
    status.set(new SecurityExchange("XSHG"));
    Session.sendToTarget(status, id);
    expect("ExecutionReport OrderStatus for QFJ-1", m -> isExec(m, "I", "QFJ-1"));

    OrderCancelRequest cancel = new OrderCancelRequest(new OrigClOrdID("QFJ-1"), new ClOrdID("QFJ-2"), new Side(Side.BUY), new TransactTime(LocalDateTime.now(ZoneOffset.UTC)));
    cancel.set(new Symbol("600000"));
    cancel.set(new SecurityExchange("XSHG"));
    cancel.set(new OrderQty(1000));
    Session.sendToTarget(cancel, id);
    expect("ExecutionReport Canceled for QFJ-2", m -> isExec(m, "4", "QFJ-2"));

    OrderCancelRequest unknown = new OrderCancelRequest(new OrigClOrdID("NO-SUCH-ORDER"), new ClOrdID("QFJ-3"), new Side(Side.BUY), new TransactTime(LocalDateTime.now(ZoneOffset.UTC)));
    unknown.set(new Symbol("600000"));
    unknown.set(new SecurityExchange("XSHG"));
    unknown.set(new OrderQty(1000));
    Session.sendToTarget(unknown, id);
    expect("OrderCancelReject for QFJ-3", m -> msgType(m).equals("9") && field(m, ClOrdID.FIELD).equals("QFJ-3"));

    Session session = Session.lookupSession(id);
    session.logout("interop test done");
    if (!loggedOut.await(WAIT_SECONDS, TimeUnit.SECONDS)) throw new IllegalStateException("no logout within " + WAIT_SECONDS + " s");
    return true;
  }

  /** Waits for the first received application message matching `what`, skipping others. */
  private void expect(String description, Predicate<Message> what) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_SECONDS);
    while (true) {
      long left = deadline - System.nanoTime();
      Message m = left > 0 ? received.poll(left, TimeUnit.NANOSECONDS) : null;
      if (m == null) throw new IllegalStateException("timed out waiting for " + description);
      if (what.test(m)) return;
    }
  }

  private static boolean isExec(Message m, String execType, String clOrdId) {
    return msgType(m).equals("8") && field(m, 150).equals(execType) && field(m, ClOrdID.FIELD).equals(clOrdId);
  }

  private static String msgType(Message m) {
    try {
      return m.getHeader().getString(MsgType.FIELD);
    } catch (Exception e) {
      return "";
    }
  }

  private static String field(Message m, int tag) {
    try {
      return m.isSetField(tag) ? m.getString(tag) : "";
    } catch (Exception e) {
      return "";
    }
  }

  // Application --------------------------------------------------------------------------------

  @Override public void onCreate(SessionID sessionId) {}

  @Override public void onLogon(SessionID sessionId) {
    print("{\"event\":\"logon\"}");
    loggedOn.countDown();
  }

  @Override public void onLogout(SessionID sessionId) {
    print("{\"event\":\"logout\"}");
    loggedOut.countDown();
  }

  @Override public void toAdmin(Message message, SessionID sessionId) {}

  @Override public void fromAdmin(Message message, SessionID sessionId) {}

  @Override public void toApp(Message message, SessionID sessionId) {}

  @Override public void fromApp(Message message, SessionID sessionId) {
    StringBuilder sb = new StringBuilder("{\"event\":\"app\",\"msgType\":").append(json(msgType(message))).append(",\"fields\":{");
    appendFields(sb, message, true);
    sb.append("}}");
    print(sb.toString());
    received.add(message);
  }

  private static void appendFields(StringBuilder sb, FieldMap map, boolean first) {
    Iterator<Field<?>> it = map.iterator();
    while (it.hasNext()) {
      Field<?> f = it.next();
      if (!first) sb.append(',');
      first = false;
      sb.append(json(Integer.toString(f.getTag()))).append(':').append(json(String.valueOf(f.getObject())));
    }
  }

  // Output -------------------------------------------------------------------------------------

  static synchronized void print(String line) {
    System.out.println(line);
    System.out.flush();
  }

  static String json(String s) {
    StringBuilder sb = new StringBuilder("\"");
    for (char c : s.toCharArray()) {
      switch (c) {
        case '"': sb.append("\\\""); break;
        case '\\': sb.append("\\\\"); break;
        case '\u0001': sb.append('|'); break;
        default:
          if (c < 0x20) sb.append(String.format("\\u%04x", (int) c));
          else sb.append(c);
      }
    }
    return sb.append('"').toString();
  }

  /** QuickFIX/J's session log as JSON lines, so the Node test can see every validation error. */
  static final class JsonLogFactory implements LogFactory {
    @Override public Log create(SessionID sessionId) {
      return new Log() {
        @Override public void clear() {}
        @Override public void onIncoming(String message) { print("{\"event\":\"in\",\"raw\":" + json(message) + "}"); }
        @Override public void onOutgoing(String message) { print("{\"event\":\"out\",\"raw\":" + json(message) + "}"); }
        @Override public void onEvent(String text) { print("{\"event\":\"qfj\",\"level\":\"event\",\"text\":" + json(text) + "}"); }
        @Override public void onErrorEvent(String text) { print("{\"event\":\"qfj\",\"level\":\"error\",\"text\":" + json(text) + "}"); }
      };
    }
  }
}
