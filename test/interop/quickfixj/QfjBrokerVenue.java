/*
 * QuickFIX/J acceptor playing a small venue, for the broker adapter conformance suite
 * (test/integration/fix-broker-quickfixj.test.ts): a standard third-party engine, with its
 * FIX44 data dictionary validating everything our FixBrokerAdapter sends.
 *
 * Venue rules (kept trivial on purpose; the suite only needs each outcome to be reachable):
 * - NewOrderSingle: a ClOrdID seen before is ignored when PossDupFlag=Y, else rejected
 *   (OrdRejReason 6). OrderQty not a multiple of 100 → Rejected (OrdRejReason 13, Text
 *   "NOT_LOT_MULTIPLE ..."). Otherwise New; a limit price of 20.00 or more is "marketable" and
 *   trades at once in two fills (half, rounded down to 100 shares, then the rest).
 * - OrderCancelRequest: a working order → Canceled (ClOrdID = the cancel's, OrigClOrdID = the
 *   order's); unknown → OrderCancelReject 102=1; done → 102=0.
 * - OrderStatusRequest: ExecutionReport ExecType=I with the order's state; unknown → OrdStatus
 *   Rejected, OrdRejReason 5, Text "UNKNOWN_ORDER".
 * - Standard input, one command per line: "fill CLORDID" trades the rest of a working order
 *   (sent at once, or stored by QuickFIX/J and resent when the counterparty is away);
 *   "ping ID" prints {"event":"pong","id":ID} (a barrier for the reader of the output).
 *
 * The session uses a memory store for the process's life, so our adapter's reconnects and
 * restarts continue the sequence and missed reports are resent. Prints JSON lines like
 * QfjInitiator, plus {"event":"accepted","clOrdId":..} per order taken and
 * {"event":"filled","clOrdId":..} per "fill" command done. Exits on end of input or after
 * 180 s.
 *
 * Usage: java -cp <classes>:<lib>/* QfjBrokerVenue SENDER_COMP_ID TARGET_COMP_ID
 */
import java.io.BufferedReader;
import java.io.ByteArrayInputStream;
import java.io.InputStreamReader;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

import org.apache.mina.core.service.IoAcceptor;
import quickfix.Application;
import quickfix.DefaultMessageFactory;
import quickfix.MemoryStoreFactory;
import quickfix.Message;
import quickfix.Session;
import quickfix.SessionID;
import quickfix.SessionSettings;
import quickfix.SocketAcceptor;
import quickfix.field.Account;
import quickfix.field.AvgPx;
import quickfix.field.ClOrdID;
import quickfix.field.CumQty;
import quickfix.field.CxlRejReason;
import quickfix.field.CxlRejResponseTo;
import quickfix.field.ExecID;
import quickfix.field.ExecType;
import quickfix.field.LastPx;
import quickfix.field.LastQty;
import quickfix.field.LeavesQty;
import quickfix.field.MsgType;
import quickfix.field.OrdRejReason;
import quickfix.field.OrdStatus;
import quickfix.field.OrderID;
import quickfix.field.OrderQty;
import quickfix.field.OrigClOrdID;
import quickfix.field.PossDupFlag;
import quickfix.field.Price;
import quickfix.field.SecurityExchange;
import quickfix.field.Side;
import quickfix.field.Symbol;
import quickfix.field.Text;
import quickfix.field.TransactTime;
import quickfix.fix44.ExecutionReport;
import quickfix.fix44.OrderCancelReject;

public final class QfjBrokerVenue implements Application {
  private static final BigDecimal MARKETABLE = new BigDecimal("20");
  private static final BigDecimal LOT = new BigDecimal("100");

  private static final class Order {
    final String clOrdId;
    final String orderId;
    final String account;
    final String symbol;
    final String exchange;
    final char side;
    final BigDecimal qty;
    final BigDecimal price;
    BigDecimal cum = BigDecimal.ZERO;
    BigDecimal notional = BigDecimal.ZERO;
    char status = OrdStatus.NEW;
    int ordRejReason = -1;
    String text;

    Order(Message m, String orderId) throws Exception {
      clOrdId = m.getString(ClOrdID.FIELD);
      this.orderId = orderId;
      account = m.isSetField(Account.FIELD) ? m.getString(Account.FIELD) : null;
      symbol = m.getString(Symbol.FIELD);
      exchange = m.isSetField(SecurityExchange.FIELD) ? m.getString(SecurityExchange.FIELD) : null;
      side = m.getChar(Side.FIELD);
      qty = new BigDecimal(m.getString(OrderQty.FIELD));
      price = m.isSetField(Price.FIELD) ? new BigDecimal(m.getString(Price.FIELD)) : BigDecimal.ZERO;
    }

    boolean working() {
      return status == OrdStatus.NEW || status == OrdStatus.PARTIALLY_FILLED;
    }

    BigDecimal leaves() {
      return working() ? qty.subtract(cum) : BigDecimal.ZERO;
    }
  }

  private final Map<String, Order> orders = new ConcurrentHashMap<>();
  private final AtomicInteger ids = new AtomicInteger();
  private volatile SessionID sessionId;

  public static void main(String[] args) throws Exception {
    if (args.length < 2) {
      System.err.println("usage: QfjBrokerVenue SENDER_COMP_ID TARGET_COMP_ID");
      System.exit(2);
    }
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
    QfjBrokerVenue app = new QfjBrokerVenue();
    SocketAcceptor acceptor = new SocketAcceptor(app, new MemoryStoreFactory(), settings, new QfjInitiator.JsonLogFactory(), new DefaultMessageFactory());
    acceptor.start();
    app.sessionId = acceptor.getSessions().get(0);
    int port = -1;
    for (IoAcceptor io : acceptor.getEndpoints()) {
      for (SocketAddress address : io.getLocalAddresses()) {
        if (address instanceof InetSocketAddress) port = ((InetSocketAddress) address).getPort();
      }
    }
    print("{\"event\":\"listening\",\"port\":" + port + "}");
    Thread watchdog = new Thread(() -> {
      try {
        Thread.sleep(180_000);
      } catch (InterruptedException e) {
        return;
      }
      System.exit(3);
    });
    watchdog.setDaemon(true);
    watchdog.start();
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    String line;
    while ((line = in.readLine()) != null) {
      String[] parts = line.trim().split("\\s+");
      if (parts.length == 2 && parts[0].equals("fill")) app.fillRest(parts[1]);
      // A barrier: once the answer is read, every line printed before it has been too.
      if (parts.length == 2 && parts[0].equals("ping")) print("{\"event\":\"pong\",\"id\":" + QfjInitiator.json(parts[1]) + "}");
    }
    acceptor.stop(true);
    print("{\"event\":\"done\",\"ok\":true}");
    System.exit(0);
  }

  @Override public void onCreate(SessionID id) {}

  @Override public void onLogon(SessionID id) {
    print("{\"event\":\"logon\"}");
  }

  @Override public void onLogout(SessionID id) {
    print("{\"event\":\"logout\"}");
  }

  @Override public void toAdmin(Message message, SessionID id) {}

  @Override public void fromAdmin(Message message, SessionID id) {}

  @Override public void toApp(Message message, SessionID id) {}

  @Override public void fromApp(Message message, SessionID id) {
    try {
      String type = message.getHeader().getString(MsgType.FIELD);
      boolean possDup = message.getHeader().isSetField(PossDupFlag.FIELD) && message.getHeader().getBoolean(PossDupFlag.FIELD);
      print("{\"event\":\"app\",\"msgType\":" + QfjInitiator.json(type) + ",\"clOrdId\":" + QfjInitiator.json(message.isSetField(ClOrdID.FIELD) ? message.getString(ClOrdID.FIELD) : "") + ",\"possDup\":" + possDup + "}");
      switch (type) {
        case MsgType.ORDER_SINGLE:
          newOrder(message, possDup);
          break;
        case MsgType.ORDER_CANCEL_REQUEST:
          cancel(message);
          break;
        case MsgType.ORDER_STATUS_REQUEST:
          status(message);
          break;
        default:
          break;
      }
    } catch (Exception e) {
      print("{\"event\":\"qfj\",\"level\":\"error\",\"text\":" + QfjInitiator.json("application: " + e) + "}");
    }
  }

  private synchronized void newOrder(Message m, boolean possDup) throws Exception {
    String clOrdId = m.getString(ClOrdID.FIELD);
    Order known = orders.get(clOrdId);
    Order o = new Order(m, "V" + ids.incrementAndGet());
    if (known != null) {
      if (possDup) return;
      o.status = OrdStatus.REJECTED;
      send(reject(o, OrdRejReason.DUPLICATE_ORDER, "DUPLICATE_CLORDID: ClOrdID already used"));
      return;
    }
    orders.put(clOrdId, o);
    if (o.qty.remainder(LOT).signum() != 0 || o.qty.signum() <= 0) {
      o.status = OrdStatus.REJECTED;
      o.ordRejReason = OrdRejReason.INCORRECT_QUANTITY;
      o.text = "NOT_LOT_MULTIPLE: order quantity " + o.qty.toPlainString() + " is not a multiple of 100";
      send(reject(o, o.ordRejReason, o.text));
      return;
    }
    print("{\"event\":\"accepted\",\"clOrdId\":" + QfjInitiator.json(clOrdId) + "}");
    send(report(o, ExecType.NEW, clOrdId));
    if (o.price.compareTo(MARKETABLE) >= 0) {
      BigDecimal first = o.qty.divide(LOT.multiply(BigDecimal.valueOf(2)), 0, RoundingMode.DOWN).multiply(LOT);
      if (first.signum() > 0) fill(o, first);
      fill(o, o.qty.subtract(o.cum));
    }
  }

  private synchronized void fillRest(String clOrdId) {
    try {
      Order o = orders.get(clOrdId);
      if (o == null || !o.working()) {
        print("{\"event\":\"qfj\",\"level\":\"error\",\"text\":" + QfjInitiator.json("fill: no working order " + clOrdId) + "}");
        return;
      }
      fill(o, o.leaves());
      print("{\"event\":\"filled\",\"clOrdId\":" + QfjInitiator.json(clOrdId) + "}");
    } catch (Exception e) {
      print("{\"event\":\"qfj\",\"level\":\"error\",\"text\":" + QfjInitiator.json("fill: " + e) + "}");
    }
  }

  private void fill(Order o, BigDecimal qty) throws Exception {
    o.cum = o.cum.add(qty);
    o.notional = o.notional.add(qty.multiply(o.price));
    o.status = o.cum.compareTo(o.qty) >= 0 ? OrdStatus.FILLED : OrdStatus.PARTIALLY_FILLED;
    ExecutionReport er = report(o, ExecType.TRADE, o.clOrdId);
    er.set(new LastQty(qty.doubleValue()));
    er.setString(LastPx.FIELD, o.price.toPlainString());
    send(er);
  }

  private synchronized void cancel(Message m) throws Exception {
    String orig = m.getString(OrigClOrdID.FIELD);
    String clOrdId = m.getString(ClOrdID.FIELD);
    Order o = orders.get(orig);
    if (o == null || !o.working()) {
      OrderCancelReject r = new OrderCancelReject(new OrderID(o == null ? "NONE" : o.orderId), new ClOrdID(clOrdId), new OrigClOrdID(orig),
          new OrdStatus(o == null ? OrdStatus.REJECTED : o.status), new CxlRejResponseTo(CxlRejResponseTo.ORDER_CANCEL_REQUEST));
      r.set(new CxlRejReason(o == null ? CxlRejReason.UNKNOWN_ORDER : CxlRejReason.TOO_LATE_TO_CANCEL));
      r.set(new Text(o == null ? "UNKNOWN_ORDER: no such order" : "TOO_LATE_TO_CANCEL: order is done"));
      send(r);
      return;
    }
    o.status = OrdStatus.CANCELED;
    ExecutionReport er = report(o, ExecType.CANCELED, clOrdId);
    er.set(new OrigClOrdID(orig));
    send(er);
  }

  private synchronized void status(Message m) throws Exception {
    String clOrdId = m.getString(ClOrdID.FIELD);
    Order o = orders.get(clOrdId);
    if (o == null) {
      ExecutionReport er = new ExecutionReport(new OrderID("NONE"), new ExecID(nextExecId()), new ExecType(ExecType.ORDER_STATUS), new OrdStatus(OrdStatus.REJECTED),
          new Side(m.getChar(Side.FIELD)), new LeavesQty(0), new CumQty(0), new AvgPx(0));
      er.set(new ClOrdID(clOrdId));
      er.set(new Symbol(m.getString(Symbol.FIELD)));
      if (m.isSetField(SecurityExchange.FIELD)) er.set(new SecurityExchange(m.getString(SecurityExchange.FIELD)));
      er.set(new OrdRejReason(OrdRejReason.UNKNOWN_ORDER));
      er.set(new Text("UNKNOWN_ORDER"));
      er.set(new TransactTime(LocalDateTime.now(ZoneOffset.UTC)));
      send(er);
      return;
    }
    ExecutionReport er = report(o, ExecType.ORDER_STATUS, clOrdId);
    if (o.ordRejReason >= 0) er.set(new OrdRejReason(o.ordRejReason));
    if (o.text != null) er.set(new Text(o.text));
    send(er);
  }

  private ExecutionReport reject(Order o, int reason, String text) {
    ExecutionReport er = report(o, ExecType.REJECTED, o.clOrdId);
    er.set(new OrdRejReason(reason));
    er.set(new Text(text));
    return er;
  }

  private ExecutionReport report(Order o, char execType, String clOrdId) {
    BigDecimal avg = o.cum.signum() > 0 ? o.notional.divide(o.cum, 4, RoundingMode.HALF_UP) : BigDecimal.ZERO;
    ExecutionReport er = new ExecutionReport(new OrderID(o.status == OrdStatus.REJECTED ? "NONE" : o.orderId), new ExecID(nextExecId()), new ExecType(execType),
        new OrdStatus(o.status), new Side(o.side), new LeavesQty(o.leaves().doubleValue()), new CumQty(o.cum.doubleValue()), new AvgPx(0));
    er.setString(AvgPx.FIELD, avg.stripTrailingZeros().toPlainString());
    er.set(new ClOrdID(clOrdId));
    if (o.account != null) er.set(new Account(o.account));
    er.set(new Symbol(o.symbol));
    if (o.exchange != null) er.set(new SecurityExchange(o.exchange));
    er.set(new OrderQty(o.qty.doubleValue()));
    if (o.price.signum() > 0) er.setString(Price.FIELD, o.price.toPlainString());
    er.set(new TransactTime(LocalDateTime.now(ZoneOffset.UTC)));
    return er;
  }

  private String nextExecId() {
    return "QX" + ids.incrementAndGet();
  }

  private void send(Message message) throws Exception {
    // Stored by QuickFIX/J and resent on request when the counterparty is not logged on.
    Session.sendToTarget(message, sessionId);
  }

  private static void print(String line) {
    QfjInitiator.print(line);
  }
}
