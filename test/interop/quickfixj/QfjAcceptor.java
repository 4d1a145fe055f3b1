/*
 * QuickFIX/J acceptor for testing triquant's FIX *initiator* side (our session layer in the
 * initiator role, as the execution tier's broker adapter uses it) against a standard engine:
 * test/integration/fix-quickfixj.test.ts.
 *
 * It listens on 127.0.0.1 port 0 and prints {"event":"listening","port":N}. Application
 * behaviour: a NewOrderSingle gets ExecutionReport New, then a Trade for half the quantity at
 * the order's price; an OrderCancelRequest gets ExecutionReport Canceled; an OrderStatusRequest
 * gets ExecutionReport OrderStatus. After the FIRST logout it sends one more ExecutionReport
 * (ExecID AWAY-1) while the counterparty is away: QuickFIX/J stores it, and the counterparty
 * must recover it by ResendRequest at its next Logon.
 *
 * Output: the same JSON lines as QfjInitiator ("in", "out", "qfj", "logon", "logout", "app",
 * "done"). Exits after EXPECTED_LOGOUTS logouts (argument, default 2) or 30 s.
 *
 * Usage: java -cp <classes>:<lib>/* QfjAcceptor SENDER_COMP_ID TARGET_COMP_ID [EXPECTED_LOGOUTS]
 */
import java.io.ByteArrayInputStream;
import java.math.BigDecimal;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.Iterator;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import org.apache.mina.core.service.IoAcceptor;
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
import quickfix.SocketAcceptor;
import quickfix.field.AvgPx;
import quickfix.field.ClOrdID;
import quickfix.field.CumQty;
import quickfix.field.ExecID;
import quickfix.field.ExecType;
import quickfix.field.LastPx;
import quickfix.field.LastQty;
import quickfix.field.LeavesQty;
import quickfix.field.MsgType;
import quickfix.field.OrdStatus;
import quickfix.field.OrderID;
import quickfix.field.OrderQty;
import quickfix.field.OrigClOrdID;
import quickfix.field.Price;
import quickfix.field.SecurityExchange;
import quickfix.field.Side;
import quickfix.field.Symbol;
import quickfix.field.Text;
import quickfix.field.TransactTime;
import quickfix.fix44.ExecutionReport;

public final class QfjAcceptor implements Application {
  private final AtomicInteger execIds = new AtomicInteger();
  private final AtomicInteger logouts = new AtomicInteger();
  private final CountDownLatch done;
  /** ClOrdID -> {orderQty, cumQty, price, symbol, exchange, side, status} */
  private final Map<String, String[]> orders = new ConcurrentHashMap<>();

  private QfjAcceptor(int expectedLogouts) {
    done = new CountDownLatch(expectedLogouts);
  }

  public static void main(String[] args) throws Exception {
    if (args.length < 2) {
      System.err.println("usage: QfjAcceptor SENDER_COMP_ID TARGET_COMP_ID [EXPECTED_LOGOUTS]");
      System.exit(2);
    }
    int expected = args.length > 2 ? Integer.parseInt(args[2]) : 2;
    String settingsText = String.join("\n",
        "[DEFAULT]",
        "ConnectionType=acceptor",
        "StartTime=00:00:00",
        "EndTime=00:00:00",
        "UseDataDictionary=Y",
        "DataDictionary=FIX44.xml",
        "ValidateUserDefinedFields=Y",
        "ValidateFieldsOutOfOrder=Y",
        "ValidateIncomingMessage=Y",
        "CheckLatency=Y",
        "MaxLatency=120",
        "SocketAcceptAddress=127.0.0.1",
        "SocketAcceptPort=0",
        "[SESSION]",
        "BeginString=FIX.4.4",
        "SenderCompID=" + args[0],
        "TargetCompID=" + args[1],
        "");
    SessionSettings settings = new SessionSettings(new ByteArrayInputStream(settingsText.getBytes(StandardCharsets.UTF_8)));
    QfjAcceptor app = new QfjAcceptor(expected);
    SocketAcceptor acceptor = new SocketAcceptor(app, new MemoryStoreFactory(), settings, new QfjInitiator.JsonLogFactory(), new DefaultMessageFactory());
    boolean ok = false;
    try {
      acceptor.start();
      int port = -1;
      for (IoAcceptor io : acceptor.getEndpoints()) {
        for (SocketAddress address : io.getLocalAddresses()) {
          if (address instanceof InetSocketAddress) port = ((InetSocketAddress) address).getPort();
        }
      }
      print("{\"event\":\"listening\",\"port\":" + port + "}");
      ok = app.done.await(30, TimeUnit.SECONDS);
      Thread.sleep(100); // let the last Logout answer leave
    } finally {
      acceptor.stop(true);
    }
    print("{\"event\":\"done\",\"ok\":" + ok + "}");
    System.exit(ok ? 0 : 1);
  }

  @Override public void onCreate(SessionID sessionId) {}

  @Override public void onLogon(SessionID sessionId) {
    print("{\"event\":\"logon\"}");
  }

  @Override public void onLogout(SessionID sessionId) {
    if (logouts.incrementAndGet() == 1) {
      // Sent while the counterparty is away: stored by QuickFIX/J, delivered by resend.
      String[] o = orders.values().stream().findFirst().orElse(null);
      if (o != null) {
        ExecutionReport er = report(o, "AWAY-1", ExecType.CANCELED, OrdStatus.CANCELED, o[7]);
        er.setDouble(LeavesQty.FIELD, 0);
        er.set(new Text("canceled while you were away"));
        try {
          Session.sendToTarget(er, sessionId);
        } catch (Exception e) {
          print("{\"event\":\"qfj\",\"level\":\"error\",\"text\":" + QfjInitiator.json(e.toString()) + "}");
        }
      }
    }
    // Printed last: once the test sees it, the session is down and AWAY-1 is stored.
    print("{\"event\":\"logout\"}");
    done.countDown();
  }

  @Override public void toAdmin(Message message, SessionID sessionId) {}

  @Override public void fromAdmin(Message message, SessionID sessionId) {}

  @Override public void toApp(Message message, SessionID sessionId) {}

  @Override public void fromApp(Message message, SessionID sessionId) {
    StringBuilder sb = new StringBuilder("{\"event\":\"app\",\"msgType\":");
    try {
      String type = message.getHeader().getString(MsgType.FIELD);
      sb.append(QfjInitiator.json(type)).append(",\"fields\":{");
      appendFields(sb, message);
      sb.append("}}");
      print(sb.toString());
      switch (type) {
        case MsgType.ORDER_SINGLE: {
          String clOrdId = message.getString(ClOrdID.FIELD);
          String[] o = new String[] {
              message.getString(OrderQty.FIELD), "0", message.getString(Price.FIELD), message.getString(Symbol.FIELD),
              message.isSetField(SecurityExchange.FIELD) ? message.getString(SecurityExchange.FIELD) : "",
              String.valueOf(message.getChar(Side.FIELD)), String.valueOf(OrdStatus.NEW), clOrdId, "Q" + clOrdId };
          orders.put(clOrdId, o);
          Session.sendToTarget(report(o, nextExecId(), ExecType.NEW, OrdStatus.NEW, clOrdId), sessionId);
          BigDecimal qty = new BigDecimal(o[0]);
          BigDecimal half = qty.divide(BigDecimal.valueOf(2)).setScale(0, java.math.RoundingMode.DOWN);
          o[1] = half.toPlainString();
          o[6] = String.valueOf(OrdStatus.PARTIALLY_FILLED);
          ExecutionReport fill = report(o, nextExecId(), ExecType.TRADE, OrdStatus.PARTIALLY_FILLED, clOrdId);
          fill.set(new LastQty(half.doubleValue()));
          fill.set(new LastPx(Double.parseDouble(o[2])));
          Session.sendToTarget(fill, sessionId);
          break;
        }
        case MsgType.ORDER_CANCEL_REQUEST: {
          String[] o = orders.get(message.getString(OrigClOrdID.FIELD));
          if (o == null) return;
          o[6] = String.valueOf(OrdStatus.CANCELED);
          ExecutionReport er = report(o, nextExecId(), ExecType.CANCELED, OrdStatus.CANCELED, message.getString(ClOrdID.FIELD));
          er.set(new OrigClOrdID(o[7]));
          er.setDouble(LeavesQty.FIELD, 0);
          Session.sendToTarget(er, sessionId);
          break;
        }
        case MsgType.ORDER_STATUS_REQUEST: {
          String[] o = orders.get(message.getString(ClOrdID.FIELD));
          if (o == null) return;
          Session.sendToTarget(report(o, nextExecId(), ExecType.ORDER_STATUS, o[6].charAt(0), o[7]), sessionId);
          break;
        }
        default:
          break;
      }
    } catch (Exception e) {
      print("{\"event\":\"qfj\",\"level\":\"error\",\"text\":" + QfjInitiator.json("application: " + e) + "}");
    }
  }

  private String nextExecId() {
    return "QE" + execIds.incrementAndGet();
  }

  private static ExecutionReport report(String[] o, String execId, char execType, char ordStatus, String clOrdId) {
    double qty = Double.parseDouble(o[0]);
    double cum = Double.parseDouble(o[1]);
    double price = Double.parseDouble(o[2]);
    ExecutionReport er = new ExecutionReport(new OrderID(o[8]), new ExecID(execId), new ExecType(execType), new OrdStatus(ordStatus),
        new Side(o[5].charAt(0)), new LeavesQty(qty - cum), new CumQty(cum), new AvgPx(cum > 0 ? price : 0));
    er.set(new ClOrdID(clOrdId));
    er.set(new Symbol(o[3]));
    if (!o[4].isEmpty()) er.set(new SecurityExchange(o[4]));
    er.set(new OrderQty(qty));
    er.set(new Price(price));
    er.set(new TransactTime(LocalDateTime.now(ZoneOffset.UTC)));
    return er;
  }

  private static void appendFields(StringBuilder sb, FieldMap map) {
    boolean first = true;
    Iterator<Field<?>> it = map.iterator();
    while (it.hasNext()) {
      Field<?> f = it.next();
      if (!first) sb.append(',');
      first = false;
      sb.append(QfjInitiator.json(Integer.toString(f.getTag()))).append(':').append(QfjInitiator.json(String.valueOf(f.getObject())));
    }
  }

  private static void print(String line) {
    QfjInitiator.print(line);
  }
}
